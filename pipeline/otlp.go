package pipeline

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// OTLP edge kinds: the referenced component accepts OpenTelemetry data of one signal (it
// implements OTLPReceiver and returns a non-nil consumer for that signal). One kind per
// signal, so that the graph check catches "output.traces points at a metrics-only bridge".
const (
	KindOTLPTraces  EdgeKind = "otlp_traces"
	KindOTLPMetrics EdgeKind = "otlp_metrics"
	KindOTLPLogs    EdgeKind = "otlp_logs"
)

// OTLPReceiver is implemented by components whose registration exports one of the OTLP
// kinds. The edge types are OpenTelemetry's own consumers on pdata, so data crosses no
// conversion between the receiver, processors and exporters.
//
// Each method returns nil for a signal the component does not accept, and otherwise a
// consumer that stays valid for the life of the component.
//
// Ownership: a caller hands the data over; it must neither read nor modify it after
// Consume* returns (a fan-out to several consumers gives each its own copy). A consumer
// may modify the data in place.
//
// Errors: a consumer returns an error only when it did not take the data. Errors wrapped
// with consumererror.NewPermanent mean "do not send this again"; others mean "try again
// later", and a gRPC status error (codes.ResourceExhausted with RetryInfo, for example) is
// passed back to OTLP clients as is, so that they back off.
type OTLPReceiver interface {
	Traces() consumer.Traces
	Metrics() consumer.Metrics
	Logs() consumer.Logs
}

// OTLPHost is implemented by Hosts that keep OTLP handles themselves (the controller, once
// it learns about OTLP edges). For other Hosts the functions below keep a small registry of
// stable handles keyed by (host, component id), the same way the controller keeps the
// metrics and logs handles.
type OTLPHost interface {
	ExportOTLP(id string, r OTLPReceiver)
	ReleaseOTLP(id string, r OTLPReceiver)
	OTLPTraces(ids []string) consumer.Traces
	OTLPMetrics(ids []string) consumer.Metrics
	OTLPLogs(ids []string) consumer.Logs
}

// ExportOTLP points the stable OTLP handle of opts.ID at r. Components that export an OTLP
// kind call it from New; every instance built for the id replaces the previous one.
func ExportOTLP(opts Options, r OTLPReceiver) {
	if h, ok := opts.Host.(OTLPHost); ok {
		h.ExportOTLP(opts.ID, r)
		return
	}
	otlpHandleFor(opts.Host, opts.ID).target.Store(&r)
}

// ReleaseOTLP detaches r from the handle of opts.ID, unless another instance has replaced it
// already. Components call it when Run returns; data sent meanwhile is refused with a
// retryable error, so OTLP clients send it again.
func ReleaseOTLP(opts Options, r OTLPReceiver) {
	if h, ok := opts.Host.(OTLPHost); ok {
		h.ReleaseOTLP(opts.ID, r)
		return
	}
	h := otlpHandleFor(opts.Host, opts.ID)
	if cur := h.target.Load(); cur != nil && *cur == r {
		h.target.CompareAndSwap(cur, nil)
	}
}

// OTLPTraces returns one consumer that sends traces to the given components, behind stable
// handles that follow restarts.
func OTLPTraces(host Host, ids []string) consumer.Traces {
	if h, ok := host.(OTLPHost); ok {
		return h.OTLPTraces(ids)
	}
	out := make(tracesFanout, 0, len(ids))
	for _, id := range ids {
		out = append(out, otlpHandleFor(host, id).traces())
	}
	if len(out) == 1 {
		return out[0]
	}
	c, _ := consumer.NewTraces(out.ConsumeTraces)
	return c
}

// OTLPMetrics returns one consumer that sends metrics to the given components.
func OTLPMetrics(host Host, ids []string) consumer.Metrics {
	if h, ok := host.(OTLPHost); ok {
		return h.OTLPMetrics(ids)
	}
	out := make(metricsFanout, 0, len(ids))
	for _, id := range ids {
		out = append(out, otlpHandleFor(host, id).metrics())
	}
	if len(out) == 1 {
		return out[0]
	}
	c, _ := consumer.NewMetrics(out.ConsumeMetrics)
	return c
}

// OTLPLogs returns one consumer that sends logs to the given components.
func OTLPLogs(host Host, ids []string) consumer.Logs {
	if h, ok := host.(OTLPHost); ok {
		return h.OTLPLogs(ids)
	}
	out := make(logsOTLPFanout, 0, len(ids))
	for _, id := range ids {
		out = append(out, otlpHandleFor(host, id).logs())
	}
	if len(out) == 1 {
		return out[0]
	}
	c, _ := consumer.NewLogs(out.ConsumeLogs)
	return c
}

// otlpKey identifies a handle: the same id under two controllers (two tests in one
// process) are different components.
type otlpKey struct {
	host Host
	id   string
}

var otlpHandles = struct {
	mu sync.Mutex
	m  map[otlpKey]*otlpHandle
}{m: map[otlpKey]*otlpHandle{}}

func otlpHandleFor(host Host, id string) *otlpHandle {
	if host != nil && !reflect.TypeOf(host).Comparable() {
		host = nil // cannot be a map key; such hosts share one namespace
	}
	k := otlpKey{host: host, id: id}
	otlpHandles.mu.Lock()
	defer otlpHandles.mu.Unlock()
	h := otlpHandles.m[k]
	if h == nil {
		h = &otlpHandle{id: id}
		otlpHandles.m[k] = h
	}
	return h
}

// otlpHandle is the stable OTLP endpoint of one component id.
type otlpHandle struct {
	id     string
	target atomic.Pointer[OTLPReceiver]
}

func (h *otlpHandle) errNotRunning() error {
	return fmt.Errorf("component %s is not running", h.id) // retryable: clients send again
}

func (h *otlpHandle) errNoSignal(signal string) error {
	return fmt.Errorf("component %s does not accept %s", h.id, signal)
}

func (h *otlpHandle) traces() consumer.Traces {
	c, _ := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		r := h.target.Load()
		if r == nil {
			return h.errNotRunning()
		}
		next := (*r).Traces()
		if next == nil {
			return h.errNoSignal("traces")
		}
		return next.ConsumeTraces(ctx, td)
	})
	return c
}

func (h *otlpHandle) metrics() consumer.Metrics {
	c, _ := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		r := h.target.Load()
		if r == nil {
			return h.errNotRunning()
		}
		next := (*r).Metrics()
		if next == nil {
			return h.errNoSignal("metrics")
		}
		return next.ConsumeMetrics(ctx, md)
	})
	return c
}

func (h *otlpHandle) logs() consumer.Logs {
	c, _ := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		r := h.target.Load()
		if r == nil {
			return h.errNotRunning()
		}
		next := (*r).Logs()
		if next == nil {
			return h.errNoSignal("logs")
		}
		return next.ConsumeLogs(ctx, ld)
	})
	return c
}

// The fan-outs give every consumer but the last its own copy (consumers may modify data in
// place) and join the errors. A failed consumer makes the client send the data again, so the
// consumers that took it see it twice: bounded duplicates rather than loss.
type (
	tracesFanout   []consumer.Traces
	metricsFanout  []consumer.Metrics
	logsOTLPFanout []consumer.Logs
)

func (f tracesFanout) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	var errs []error
	for i, c := range f {
		data := td
		if i < len(f)-1 {
			data = ptrace.NewTraces()
			td.CopyTo(data)
		}
		if err := c.ConsumeTraces(ctx, data); err != nil {
			errs = append(errs, err)
		}
	}
	return joinOTLPErrors(errs)
}

func (f metricsFanout) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	var errs []error
	for i, c := range f {
		data := md
		if i < len(f)-1 {
			data = pmetric.NewMetrics()
			md.CopyTo(data)
		}
		if err := c.ConsumeMetrics(ctx, data); err != nil {
			errs = append(errs, err)
		}
	}
	return joinOTLPErrors(errs)
}

func (f logsOTLPFanout) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	var errs []error
	for i, c := range f {
		data := ld
		if i < len(f)-1 {
			data = plog.NewLogs()
			ld.CopyTo(data)
		}
		if err := c.ConsumeLogs(ctx, data); err != nil {
			errs = append(errs, err)
		}
	}
	return joinOTLPErrors(errs)
}

// joinOTLPErrors keeps a single error as it is, so that a gRPC status or a permanent error
// reaches the client unchanged.
func joinOTLPErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
