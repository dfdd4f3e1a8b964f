package pipeline

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// host is the Host a component gets: the controller's stable handles, fanned out and tapped
// on every edge the component sends data along.
type host struct {
	c    *Controller
	from string
}

// handles returns the handles of each id; an id not in the graph (validated graphs never
// get there) gets empty handles, so that sends to it fail clearly.
func (h host) handles(ids []string) []*handles {
	h.c.mu.RLock()
	defer h.c.mu.RUnlock()
	out := make([]*handles, len(ids))
	for i, id := range ids {
		if out[i] = h.c.handles[id]; out[i] == nil {
			out[i] = newHandles(id)
		}
	}
	return out
}

func (h host) tap(to string, kind EdgeKind) *edgeTap {
	return h.c.taps.edge(EdgeKey{From: h.from, To: to, Kind: kind})
}

func (h host) Appendable(ids []string) Appendable {
	out := make(fanout, 0, len(ids))
	for _, hs := range h.handles(ids) {
		out = append(out, tappedAppendable{h: hs.metrics, edge: h.tap(hs.metrics.id, KindMetrics)})
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

func (h host) Logs(ids []string) LogsReceiver {
	out := make(logsFanout, 0, len(ids))
	for _, hs := range h.handles(ids) {
		out = append(out, tappedLogs{next: hs.logs, edge: h.tap(hs.logs.id, KindLogs)})
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

func (h host) Targets(ids []string) TargetsView {
	hs := h.handles(ids)
	ts := make([]*targetsHandle, len(hs))
	for i, x := range hs {
		ts[i] = x.targets
	}
	return newTargetsView(ts)
}

func (h host) OTLPTraces(ids []string) consumer.Traces {
	ds := otlpDests(h, ids, KindOTLPTraces, (*otlpHandle).traces, consumer.Traces.ConsumeTraces, sampleSpans, ptrace.Traces.SpanCount)
	c, _ := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error { return fanOut(ctx, tracesSignal, ds, td) })
	return c
}

func (h host) OTLPMetrics(ids []string) consumer.Metrics {
	ds := otlpDests(h, ids, KindOTLPMetrics, (*otlpHandle).metrics, consumer.Metrics.ConsumeMetrics, sampleMetrics, pmetric.Metrics.DataPointCount)
	c, _ := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error { return fanOut(ctx, metricsSignal, ds, md) })
	return c
}

func (h host) OTLPLogs(ids []string) consumer.Logs {
	ds := otlpDests(h, ids, KindOTLPLogs, (*otlpHandle).logs, consumer.Logs.ConsumeLogs, sampleLogRecords, plog.Logs.LogRecordCount)
	c, _ := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error { return fanOut(ctx, logsSignal, ds, ld) })
	return c
}

// otlpDests returns one tapped fan-out destination per id: each call resolves the consumer
// of the instance attached to the id's handle now.
func otlpDests[C interface{ Capabilities() consumer.Capabilities }, T any](h host, ids []string, kind EdgeKind,
	resolve func(*otlpHandle) (C, error), consume func(C, context.Context, T) error,
	sample func(EdgeKey, []*Watcher, T), count func(T) int) []otlpDest[T] {
	out := make([]otlpDest[T], 0, len(ids))
	for _, hs := range h.handles(ids) {
		oh := hs.otlp
		send := func(ctx context.Context, data T) error {
			c, err := resolve(oh)
			if err != nil {
				return err
			}
			return consume(c, ctx, data)
		}
		mutates := func() bool {
			c, err := resolve(oh)
			return err == nil && c.Capabilities().MutatesData
		}
		out = append(out, otlpDest[T]{consume: tapped(h.tap(oh.id, kind), sample, count, send), mutates: mutates})
	}
	return out
}
