package oteltest

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the exporters compress with gzip by default
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Fault is one scripted answer of a fault-injecting server.
type Fault struct {
	// HTTPStatus is the HTTP answer (HTTPServer).
	HTTPStatus int
	// RetryAfter is sent as the Retry-After header when not empty (HTTPServer).
	RetryAfter string
	// Code is the gRPC answer (GRPCServer).
	Code codes.Code
	// RetryDelay is sent as a RetryInfo detail when positive (GRPCServer).
	RetryDelay time.Duration
	// Hang never answers: the request waits until the client gives up (GRPCServer; a backend
	// that accepted the connection and hangs).
	Hang bool
}

// Repeat returns n times f: a backend that answers f to the next n requests.
func Repeat(f Fault, n int) []Fault {
	out := make([]Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// Request is one request a fault-injecting server saw.
type Request struct {
	Time  time.Time
	Spans int
	// Answer is the HTTP status or the gRPC code answered.
	Answer int
}

// faults is the script and the record both servers share.
type faults struct {
	mu       sync.Mutex
	script   []Fault
	requests []Request
	accepted []ptrace.Traces
	spans    int
	arrived  chan struct{}
}

func newFaults() *faults { return &faults{arrived: make(chan struct{}, 1)} }

// next pops the next scripted answer; ok is false when the script is used up (success).
func (f *faults) next(td ptrace.Traces, answer func(Fault) int) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var flt Fault
	ok := len(f.script) > 0
	if ok {
		flt = f.script[0]
		f.script = f.script[1:]
	}
	r := Request{Time: time.Now(), Spans: td.SpanCount(), Answer: answer(flt)}
	if !ok {
		f.accepted = append(f.accepted, td)
		f.spans += td.SpanCount()
	}
	f.requests = append(f.requests, r)
	select {
	case f.arrived <- struct{}{}:
	default:
	}
	return flt, ok
}

// Script sets the answers to the next requests, in order; once they are used up, requests
// succeed.
func (f *faults) Script(fs ...Fault) {
	f.mu.Lock()
	f.script = append([]Fault(nil), fs...)
	f.mu.Unlock()
}

// Requests returns every request seen so far.
func (f *faults) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// Spans returns the number of spans accepted.
func (f *faults) Spans() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spans
}

// Arrived is signalled (coalesced) on every request.
func (f *faults) Arrived() <-chan struct{} { return f.arrived }

// Reset forgets the requests and spans seen.
func (f *faults) Reset() {
	f.mu.Lock()
	f.requests, f.accepted, f.spans, f.script = nil, nil, 0, nil
	f.mu.Unlock()
}

// HTTPServer is an OTLP/HTTP traces endpoint (/v1/traces) that answers from a script.
type HTTPServer struct {
	*faults
	srv *httptest.Server
}

// NewHTTPServer starts a fault-injecting OTLP/HTTP server, stopped when the test ends.
func NewHTTPServer(t testing.TB) *HTTPServer {
	s := &HTTPServer{faults: newFaults()}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL (the exporter appends /v1/traces).
func (s *HTTPServer) URL() string { return s.srv.URL }

func (s *HTTPServer) handle(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	flt, faulty := s.next(req.Traces(), func(f Fault) int {
		if f.HTTPStatus == 0 {
			return http.StatusOK
		}
		return f.HTTPStatus
	})
	if !faulty {
		out, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
		return
	}
	if flt.RetryAfter != "" {
		w.Header().Set("Retry-After", flt.RetryAfter)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(flt.HTTPStatus)
	_, _ = io.WriteString(w, "injected fault")
}

// GRPCServer is an OTLP/gRPC traces endpoint that answers from a script.
type GRPCServer struct {
	ptraceotlp.UnimplementedGRPCServer
	*faults
	addr string
}

// NewGRPCServer starts a fault-injecting OTLP/gRPC server on 127.0.0.1, stopped when the
// test ends.
func NewGRPCServer(t testing.TB) *GRPCServer {
	t.Helper()
	s := &GRPCServer{faults: newFaults()}
	gs := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(gs, s)
	s.addr = ServeGRPC(t, gs)
	return s
}

// Endpoint is host:port.
func (s *GRPCServer) Endpoint() string { return s.addr }

// Export implements ptraceotlp.GRPCServer.
func (s *GRPCServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	flt, faulty := s.next(td, func(f Fault) int { return int(f.Code) })
	if faulty && flt.Hang {
		<-ctx.Done()
		return ptraceotlp.NewExportResponse(), status.FromContextError(ctx.Err()).Err()
	}
	if !faulty || flt.Code == codes.OK {
		return ptraceotlp.NewExportResponse(), nil
	}
	st := status.New(flt.Code, "injected fault")
	if flt.RetryDelay > 0 {
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(flt.RetryDelay)}); err == nil {
			st = d
		}
	}
	return ptraceotlp.NewExportResponse(), st.Err()
}
