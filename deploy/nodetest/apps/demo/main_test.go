package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// traceSink is an OTLP gRPC trace receiver that keeps the demo.seq of every span.
type traceSink struct {
	coltrace.UnimplementedTraceServiceServer
	mu      sync.Mutex
	seqs    []int64
	service string
}

func (s *traceSink) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				s.service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				for _, a := range sp.GetAttributes() {
					if a.GetKey() == "demo.seq" {
						s.seqs = append(s.seqs, a.GetValue().GetIntValue())
					}
				}
			}
		}
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

var (
	lineRE  = regexp.MustCompile(`^level=\w+ app=demo run=t inst=[0-9a-f]{8} stream=(stdout|stderr) seq=(\d{6,}) `)
	finalRE = regexp.MustCompile(`^level=info app=demo run=t inst=[0-9a-f]{8} stream=stdout msg=final total_stdout=(\d+) total_stderr=(\d+)$`)
)

func TestRunLogsSpansAndFinalLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &traceSink{}
	srv := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(srv, sink)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"-rate=500", "-run-id=t", "-pad=16", "-span-every=10", "-metrics-addr=127.0.0.1:0",
		"-otlp-endpoint=" + ln.Addr().String()}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}

	seqs := map[string]map[int]bool{"stdout": {}, "stderr": {}}
	counts := map[string]int{}
	var final []string
	for stream, buf := range map[string]*bytes.Buffer{"stdout": &stdout, "stderr": &stderr} {
		for _, l := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
			if m := finalRE.FindSubmatch(l); m != nil {
				final = []string{string(m[1]), string(m[2])}
				continue
			}
			m := lineRE.FindSubmatch(l)
			if m == nil || string(m[1]) != stream {
				t.Fatalf("unexpected line on %s: %q", stream, l)
			}
			n, _ := strconv.Atoi(string(m[2]))
			seqs[stream][n] = true
			counts[stream]++
		}
	}
	lines := counts["stdout"] + counts["stderr"]
	if lines < 100 {
		t.Fatalf("only %d lines in 0.7 s at 500/s", lines)
	}
	for stream, n := range counts {
		for i := 1; i <= n; i++ {
			if !seqs[stream][i] {
				t.Fatalf("%s seq %d missing of %d", stream, i, n)
			}
		}
	}
	if want := []string{strconv.Itoa(counts["stdout"]), strconv.Itoa(counts["stderr"])}; final == nil || final[0] != want[0] || final[1] != want[1] {
		t.Fatalf("final totals %v, lines seen %v", final, want)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.seqs) != lines/10 || sink.service != "demo" {
		t.Fatalf("got %d spans from service %q for %d lines, want %d from demo", len(sink.seqs), sink.service, lines, lines/10)
	}
}
