package oteltest

import (
	"context"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

// CountingGRPCServer is an OTLP/gRPC traces endpoint that only counts spans: the sink of
// forwarding benchmarks.
type CountingGRPCServer struct {
	ptraceotlp.UnimplementedGRPCServer
	addr  string
	spans atomic.Int64
}

// NewCountingGRPCServer starts one on 127.0.0.1, stopped when the test ends.
func NewCountingGRPCServer(tb testing.TB) *CountingGRPCServer {
	tb.Helper()
	s := &CountingGRPCServer{}
	gs := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(gs, s)
	s.addr = ServeGRPC(tb, gs)
	return s
}

// Endpoint is host:port.
func (s *CountingGRPCServer) Endpoint() string { return s.addr }

// Spans returns the number of spans received.
func (s *CountingGRPCServer) Spans() int64 { return s.spans.Load() }

// Export implements ptraceotlp.GRPCServer.
func (s *CountingGRPCServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}
