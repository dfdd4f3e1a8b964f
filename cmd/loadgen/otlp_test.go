package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// Spans come in whole traces (a server span and its children) with fresh IDs and
// timestamps each time a request is reused.
func TestSpanGen(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := newSpanGen(12, 2, 1)
	td := g.Next(now)
	require.Equal(t, 12, td.SpanCount())
	res := td.ResourceSpans().At(0).Resource().Attributes()
	svc, ok := res.Get("service.name")
	require.True(t, ok)
	require.Equal(t, genServices[2], svc.Str())
	require.GreaterOrEqual(t, res.Len(), 10)

	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	ids := map[pcommon.SpanID]bool{}
	var root ptrace.Span
	for i := range spans.Len() {
		s := spans.At(i)
		require.GreaterOrEqual(t, s.Attributes().Len(), 10, "span %d", i)
		require.False(t, s.SpanID().IsEmpty())
		require.False(t, ids[s.SpanID()], "span IDs are unique")
		ids[s.SpanID()] = true
		require.LessOrEqual(t, s.StartTimestamp(), s.EndTimestamp())
		require.LessOrEqual(t, s.EndTimestamp().AsTime(), now)
		if i%spansPerTrace == 0 {
			root = s
			require.True(t, s.ParentSpanID().IsEmpty())
			require.Equal(t, ptrace.SpanKindServer, s.Kind())
			continue
		}
		require.Equal(t, root.TraceID(), s.TraceID())
		require.Equal(t, root.SpanID(), s.ParentSpanID())
		require.GreaterOrEqual(t, s.StartTimestamp(), root.StartTimestamp(), "children start inside their parent")
		require.LessOrEqual(t, s.EndTimestamp(), root.EndTimestamp(), "and end inside it")
	}
	require.NotEqual(t, spans.At(0).TraceID(), spans.At(5).TraceID())

	// genRequests later the same request comes back, renewed.
	first := spans.At(0).TraceID()
	for range genRequests - 1 {
		g.Next(now)
	}
	again := g.Next(now.Add(time.Second))
	require.Equal(t, td, again)
	require.NotEqual(t, first, spans.At(0).TraceID())
	require.Greater(t, spans.At(0).EndTimestamp().AsTime(), now)
}

func getOTLPStats(t *testing.T, h http.Handler) OTLPStats {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var st OTLPStats
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	return st
}

func TestOTLPSinkCountsAndResets(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clock := &fakeClock{t: start}
	s := newOTLPSink(clock.now)
	h := s.handler()
	td := newSpanGen(10, 0, 1).Next(start)
	// Two resources: the second a copy of the first.
	td.ResourceSpans().At(0).CopyTo(td.ResourceSpans().AppendEmpty())
	clock.t = start.Add(2 * time.Second)
	_, err := s.Export(t.Context(), ptraceotlp.NewExportRequestFromTraces(td))
	require.NoError(t, err)

	st := getOTLPStats(t, h)
	require.Equal(t, uint64(1), st.Requests)
	require.Equal(t, uint64(2), st.ResourceSpans)
	require.Equal(t, uint64(20), st.Spans)
	require.InDelta(t, 20.0, st.SpansPerRequest, 1e-9)
	require.InDelta(t, 10.0, st.SpansPerSecond, 1e-9, "20 spans in 2 s")
	require.GreaterOrEqual(t, st.LagMeanSeconds, 2.0, "spans ended before start, seen 2 s later")
	require.Less(t, st.LagMaxSeconds, 3.0)
	require.InDelta(t, float64(clock.t.UnixNano())/1e9, st.LastArrivalUnix, 1e-6)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/reset", nil))
	require.Equal(t, http.StatusNoContent, rec.Code)
	require.Equal(t, OTLPStats{}, getOTLPStats(t, h))
}

func TestSendOTLPToSink(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts otlpSendOptions
	}{
		{name: "spans, gzip", opts: otlpSendOptions{spans: 1234, batch: 100, conns: 3, compression: "gzip"}},
		{name: "spans, uncompressed, one connection", opts: otlpSendOptions{spans: 50, batch: 512, conns: 1, compression: "none"}},
		{name: "rate and duration", opts: otlpSendOptions{rate: 2000, duration: 300 * time.Millisecond, batch: 50, conns: 2, compression: "none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newOTLPSink(time.Now)
			o := tc.opts
			o.endpoint = oteltest.ServeGRPC(t, sink.grpcServer(64<<20))
			o.timeout, o.seed = 10*time.Second, 1
			sum, err := sendOTLP(t.Context(), o, time.Now)
			require.NoError(t, err)

			st := sink.Snapshot()
			require.Positive(t, sum.SpansAccepted)
			require.Equal(t, sum.SpansSent, sum.SpansAccepted)
			require.Zero(t, sum.SpansRefused)
			require.Zero(t, sum.FailedRequests)
			require.Empty(t, sum.Errors)
			require.Equal(t, sum.SpansAccepted, st.Spans, "the sink got every span accepted")
			require.Equal(t, sum.Requests, st.Requests)
			require.Equal(t, st.Requests, st.ResourceSpans, "one resource per request")
			require.Positive(t, st.Bytes)
			require.Positive(t, sum.SpansPerSecond)
			if o.spans > 0 {
				require.Equal(t, uint64(o.spans), st.Spans)
			}
			if o.compression == "gzip" {
				require.Less(t, st.Bytes, st.DecodedBytes, "gzip shrinks the requests")
			} else {
				require.Equal(t, st.Bytes, st.DecodedBytes)
			}
		})
	}
}

// refusingServer refuses every request, or takes it with a partial success.
type refusingServer struct {
	ptraceotlp.UnimplementedGRPCServer
	partial int64
}

func (r *refusingServer) Export(context.Context, ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if r.partial > 0 {
		resp := ptraceotlp.NewExportResponse()
		resp.PartialSuccess().SetRejectedSpans(r.partial)
		return resp, nil
	}
	return ptraceotlp.ExportResponse{}, status.Error(codes.ResourceExhausted, "memory limit reached")
}

func TestSendOTLPRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		partial  int64
		accepted uint64
		failed   uint64
		errors   map[string]uint64
	}{
		{name: "refused", failed: 3, errors: map[string]uint64{"ResourceExhausted": 3}},
		{name: "partial success", partial: 4, accepted: 3 * 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := grpc.NewServer()
			ptraceotlp.RegisterGRPCServer(srv, &refusingServer{partial: tc.partial})
			o := otlpSendOptions{endpoint: oteltest.ServeGRPC(t, srv), spans: 30, batch: 10, conns: 1, compression: "none", timeout: 10 * time.Second}
			sum, err := sendOTLP(t.Context(), o, time.Now)
			require.NoError(t, err)
			require.Equal(t, uint64(3), sum.Requests)
			require.Equal(t, uint64(30), sum.SpansSent)
			require.Equal(t, tc.accepted, sum.SpansAccepted)
			require.Equal(t, 30-tc.accepted, sum.SpansRefused)
			require.Equal(t, tc.failed, sum.FailedRequests)
			require.Equal(t, tc.errors, sum.Errors)
			if tc.failed > 0 {
				require.Contains(t, sum.FirstError, "memory limit reached")
			}
		})
	}
}

func TestRunOTLP(t *testing.T) {
	sink := newOTLPSink(time.Now)
	endpoint := oteltest.ServeGRPC(t, sink.grpcServer(64<<20))
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"otlp-send", "--endpoint", endpoint, "--spans", "100", "--batch", "30", "--conns", "2"}, &stdout, &stderr), stderr.String())
	var sum OTLPSendSummary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum))
	require.Equal(t, uint64(100), sum.SpansAccepted)
	require.Equal(t, uint64(100), sink.Snapshot().Spans)

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{name: "send without endpoint", args: []string{"otlp-send", "--spans", "1"}, code: 2, out: "--endpoint is required"},
		{name: "send without an end", args: []string{"otlp-send", "--endpoint", "x:1", "--duration", "0"}, code: 2, out: "give --duration, --spans or both"},
		{name: "send zero batch", args: []string{"otlp-send", "--endpoint", "x:1", "--batch", "0"}, code: 2, out: "at least 1"},
		{name: "send negative rate", args: []string{"otlp-send", "--endpoint", "x:1", "--rate", "-1"}, code: 2, out: "must not be negative"},
		{name: "send bad compression", args: []string{"otlp-send", "--endpoint", "x:1", "--compression", "zstd"}, code: 2, out: "none or gzip"},
		{name: "send stray argument", args: []string{"otlp-send", "--endpoint", "x:1", "extra"}, code: 2, out: "unexpected arguments"},
		{name: "sink stray argument", args: []string{"otlp-sink", "extra"}, code: 2, out: "loadgen otlp-sink: unexpected arguments"},
		{name: "sink bad address", args: []string{"otlp-sink", "--listen", "nocolon"}, code: 1, out: "otlp-sink stopped with an error"},
		{name: "sink bad stats address", args: []string{"otlp-sink", "--listen", "127.0.0.1:0", "--stats-listen", "nocolon"}, code: 1, out: "otlp-sink stopped with an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			require.Equal(t, tc.code, run(tc.args, &stdout, &stderr))
			require.Contains(t, stdout.String()+stderr.String(), tc.out)
		})
	}
}

// The OTLP sink stops, with every goroutine, when its context ends (goleak checks).
func TestServeOTLPSinkStopsWithContext(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serveOTLPSink(ctx, ln, "127.0.0.1:0", 1<<20, logger) }()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("OTLP sink did not stop")
	}
}

// BenchmarkSpanGenNext is the sender's own cost per request of 512 spans, before gRPC
// marshals it.
func BenchmarkSpanGenNext(b *testing.B) {
	g := newSpanGen(512, 0, 1)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		g.Next(now)
	}
}

// BenchmarkOTLPSinkExport is the sink's cost per request of 8192 spans (the batch
// processor's default batch), after gRPC has decoded it.
func BenchmarkOTLPSinkExport(b *testing.B) {
	td := newSpanGen(8192, 0, 1).Next(time.Now())
	s := newOTLPSink(time.Now)
	req := ptraceotlp.NewExportRequestFromTraces(td)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = s.Export(context.Background(), req)
	}
}
