// Package oteltest holds test helpers for the OTLP components: a recording sink that
// stands in for a component on an OTLP edge, trace builders, fault-injecting OTLP servers
// (HTTP and gRPC) for exporter retry tests, starting an exporter under test and reading
// its metrics, and a real Tempo or Jaeger started on 127.0.0.1.
package oteltest

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// Sink is a component that accepts every OTLP signal and records everything it is given.
// With Fail set it refuses data with that error instead.
type Sink struct {
	mu      sync.Mutex
	traces  []ptrace.Traces
	metrics []pmetric.Metrics
	logs    []plog.Logs
	spans   int
	fail    error
	changed chan struct{}
}

var (
	_ pipeline.Component           = (*Sink)(nil)
	_ pipeline.OTLPTracesReceiver  = (*Sink)(nil)
	_ pipeline.OTLPMetricsReceiver = (*Sink)(nil)
	_ pipeline.OTLPLogsReceiver    = (*Sink)(nil)
)

// NewSink returns an empty sink.
func NewSink() *Sink { return &Sink{changed: make(chan struct{}, 1)} }

// Register makes s the component id on host, so that components whose outputs name id
// send to s.
func (s *Sink) Register(host *pipelinetest.Host, id string) *Sink {
	host.Export(id, s)
	return s
}

// Run implements pipeline.Component: the sink records in its consumers' calls.
func (s *Sink) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Fail makes the sink refuse data with err (nil: accept again).
func (s *Sink) Fail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// take records data with record, or refuses it while Fail is set.
func (s *Sink) take(record func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	record()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

// Traces implements pipeline.OTLPTracesReceiver.
func (s *Sink) Traces() consumer.Traces {
	c, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		return s.take(func() { s.traces = append(s.traces, td); s.spans += td.SpanCount() })
	})
	return c
}

// Metrics implements pipeline.OTLPMetricsReceiver.
func (s *Sink) Metrics() consumer.Metrics {
	c, _ := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error {
		return s.take(func() { s.metrics = append(s.metrics, md) })
	})
	return c
}

// Logs implements pipeline.OTLPLogsReceiver.
func (s *Sink) Logs() consumer.Logs {
	c, _ := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		return s.take(func() { s.logs = append(s.logs, ld) })
	})
	return c
}

// SpanCount returns the number of spans received.
func (s *Sink) SpanCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spans
}

// AllTraces returns what was received, one entry per call.
func (s *Sink) AllTraces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces...)
}

// AllMetrics returns what was received, one entry per call.
func (s *Sink) AllMetrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.metrics...)
}

// AllLogs returns what was received, one entry per call.
func (s *Sink) AllLogs() []plog.Logs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]plog.Logs(nil), s.logs...)
}

// Changed is signalled (coalesced) whenever data arrives.
func (s *Sink) Changed() <-chan struct{} { return s.changed }
