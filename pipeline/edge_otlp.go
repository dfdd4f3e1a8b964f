package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OTLP edge kinds: the referenced component accepts OpenTelemetry data of one signal (it
// implements that signal's receiver interface). One kind per signal, so that the graph check
// catches "output.traces points at a metrics-only bridge".
const (
	KindOTLPTraces  EdgeKind = "otlp_traces"
	KindOTLPMetrics EdgeKind = "otlp_metrics"
	KindOTLPLogs    EdgeKind = "otlp_logs"
)

// OTLPTracesReceiver, OTLPMetricsReceiver and OTLPLogsReceiver are implemented by components
// whose registration exports KindOTLPTraces, KindOTLPMetrics and KindOTLPLogs. The edge types
// are OpenTelemetry's own consumers on pdata, so data crosses no conversion between the
// receiver, processors and exporters. The consumer returned must stay valid for the life of
// the component; its Capabilities().MutatesData must be true when it modifies the data.
//
// Ownership: a caller hands the data over; it must neither read nor modify it after
// Consume* returns. A fan-out to several consumers shares the data among those that do
// not mutate it and gives each mutating one its own copy.
//
// Errors: a consumer returns an error only when it did not take the data. Errors wrapped
// with consumererror.NewPermanent mean "do not send this again"; others mean "try again
// later", and a gRPC status error (codes.ResourceExhausted with RetryInfo, for example) is
// passed back to OTLP clients as is, so that they back off. While a component is not
// running (between the end of its Run and its next start) its handle refuses data with a
// retryable error, so OTLP clients send it again.
type (
	OTLPTracesReceiver  interface{ Traces() consumer.Traces }
	OTLPMetricsReceiver interface{ Metrics() consumer.Metrics }
	OTLPLogsReceiver    interface{ Logs() consumer.Logs }
)

// otlpHandle is the stable OTLP endpoint of one component id: the consumers of the instance
// attached now, nil while none runs.
type otlpHandle struct {
	id      string
	current atomic.Pointer[otlpConsumers]
}

type otlpConsumers struct {
	owner   Component
	traces  consumer.Traces
	metrics consumer.Metrics
	logs    consumer.Logs
}

// attach points the handle at c's consumers (nil c: none).
func (h *otlpHandle) attach(c Component) {
	if c == nil {
		h.current.Store(nil)
		return
	}
	cs := &otlpConsumers{owner: c}
	if r, ok := c.(OTLPTracesReceiver); ok {
		cs.traces = r.Traces()
	}
	if r, ok := c.(OTLPMetricsReceiver); ok {
		cs.metrics = r.Metrics()
	}
	if r, ok := c.(OTLPLogsReceiver); ok {
		cs.logs = r.Logs()
	}
	h.current.Store(cs)
}

// release detaches c, unless another instance has been attached since.
func (h *otlpHandle) release(c Component) {
	if cur := h.current.Load(); cur != nil && cur.owner == c {
		h.current.CompareAndSwap(cur, nil)
	}
}

// resolve returns the attached consumer of one signal, or the error to answer with.
func resolve[C any](h *otlpHandle, signal string, get func(*otlpConsumers) C, isNil func(C) bool) (C, error) {
	var zero C
	cur := h.current.Load()
	if cur == nil {
		return zero, fmt.Errorf("component %s is not running", h.id) // retryable: clients send again
	}
	c := get(cur)
	if isNil(c) {
		return zero, fmt.Errorf("component %s does not accept %s", h.id, signal)
	}
	return c, nil
}

func (h *otlpHandle) traces() (consumer.Traces, error) {
	return resolve(h, "traces", func(c *otlpConsumers) consumer.Traces { return c.traces }, func(c consumer.Traces) bool { return c == nil })
}

func (h *otlpHandle) metrics() (consumer.Metrics, error) {
	return resolve(h, "metrics", func(c *otlpConsumers) consumer.Metrics { return c.metrics }, func(c consumer.Metrics) bool { return c == nil })
}

func (h *otlpHandle) logs() (consumer.Logs, error) {
	return resolve(h, "logs", func(c *otlpConsumers) consumer.Logs { return c.logs }, func(c consumer.Logs) bool { return c == nil })
}

// otlpSignal is what the fan-out needs to know about one signal's data type.
type otlpSignal[T any] struct {
	clone func(T) T
}

var (
	tracesSignal  = otlpSignal[ptrace.Traces]{clone: func(d ptrace.Traces) ptrace.Traces { c := ptrace.NewTraces(); d.CopyTo(c); return c }}
	metricsSignal = otlpSignal[pmetric.Metrics]{clone: func(d pmetric.Metrics) pmetric.Metrics { c := pmetric.NewMetrics(); d.CopyTo(c); return c }}
	logsSignal    = otlpSignal[plog.Logs]{clone: func(d plog.Logs) plog.Logs { c := plog.NewLogs(); d.CopyTo(c); return c }}
)

// otlpDest is one destination of a fan-out: where to send and whether it mutates the data
// (asked at every call: the instance behind a handle may change).
type otlpDest[T any] struct {
	consume func(context.Context, T) error
	mutates func() bool
}

// fanOut sends data to every destination the way the OpenTelemetry Collector's fan-out
// does: destinations that do not mutate share the data; each mutating one gets a copy,
// except that the last one gets the original when no read-only destination shares it.
// Errors are joined (a single error is kept as it is, so that a gRPC status or a permanent
// error reaches the client unchanged). A failed destination makes the client send the data
// again, so those that took it see it twice: bounded duplicates rather than loss.
func fanOut[T any](ctx context.Context, s otlpSignal[T], dests []otlpDest[T], data T) error {
	if len(dests) == 1 {
		return dests[0].consume(ctx, data)
	}
	var mutating, readonly []otlpDest[T]
	for _, d := range dests {
		if d.mutates() {
			mutating = append(mutating, d)
		} else {
			readonly = append(readonly, d)
		}
	}
	var errs []error
	for i, d := range mutating {
		own := data
		if i < len(mutating)-1 || len(readonly) > 0 {
			own = s.clone(data)
		}
		if err := d.consume(ctx, own); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range readonly {
		if err := d.consume(ctx, data); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// FanOutTraces, FanOutMetrics and FanOutLogs return one consumer that sends to every
// consumer in cs by the fan-out rules above, for Hosts other than the controller's (test
// hosts).
func FanOutTraces(cs ...consumer.Traces) consumer.Traces {
	ds := destsOf(cs, consumer.Traces.ConsumeTraces)
	out, _ := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error { return fanOut(ctx, tracesSignal, ds, td) })
	return out
}

// FanOutMetrics: see FanOutTraces.
func FanOutMetrics(cs ...consumer.Metrics) consumer.Metrics {
	ds := destsOf(cs, consumer.Metrics.ConsumeMetrics)
	out, _ := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error { return fanOut(ctx, metricsSignal, ds, md) })
	return out
}

// FanOutLogs: see FanOutTraces.
func FanOutLogs(cs ...consumer.Logs) consumer.Logs {
	ds := destsOf(cs, consumer.Logs.ConsumeLogs)
	out, _ := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error { return fanOut(ctx, logsSignal, ds, ld) })
	return out
}

// destsOf makes fan-out destinations of consumers, asking each whether it mutates at every call.
func destsOf[C interface{ Capabilities() consumer.Capabilities }, T any](cs []C, consume func(C, context.Context, T) error) []otlpDest[T] {
	ds := make([]otlpDest[T], len(cs))
	for i, c := range cs {
		ds[i] = otlpDest[T]{
			consume: func(ctx context.Context, data T) error { return consume(c, ctx, data) },
			mutates: func() bool { return c.Capabilities().MutatesData },
		}
	}
	return ds
}
