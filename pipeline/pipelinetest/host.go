// Package pipelinetest holds test helpers for components: a fake Host with a recording
// metrics sink and settable target sets, Options for a component under test, and the
// lifecycle test every component must pass.
package pipelinetest

import (
	"context"
	"fmt"
	"sync"

	"github.com/sondehq/sonde/pipeline"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Host is a fake pipeline.Host. Every Appendable it hands out writes into Sink, every
// LogsReceiver into LogsSink; Targets views return what SetTargets (or a component connected
// with Export) published for the referenced ids; OTLP consumers send to the components
// connected with Export.
type Host struct {
	Sink     *Sink
	LogsSink *LogsSink

	mu      sync.Mutex
	targets map[string]pipeline.Targets
	views   []*view
	otlp    map[string]pipeline.Component
}

// NewHost returns an empty fake host.
func NewHost() *Host {
	return &Host{Sink: NewSink(), LogsSink: NewLogsSink(), targets: map[string]pipeline.Targets{}, otlp: map[string]pipeline.Component{}}
}

// Export does what the controller does when it builds component c under id: the targets c
// publishes become the targets of id, and c receives the OTLP data sent to id. Exporting
// nil withdraws id's OTLP consumers (a component that stopped).
func (h *Host) Export(id string, c pipeline.Component) {
	if e, ok := c.(pipeline.TargetsExporter); ok {
		e.ExportedTargets().Connect(func(ts pipeline.Targets) { h.SetTargets(id, ts) })
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c == nil {
		delete(h.otlp, id)
		return
	}
	h.otlp[id] = c
}

// OTLPTraces implements pipeline.Host.
func (h *Host) OTLPTraces(ids []string) consumer.Traces {
	cs := make([]consumer.Traces, len(ids))
	for i, id := range ids {
		cs[i] = tracesTo{endpoint{h, id}}
	}
	return pipeline.FanOutTraces(cs...)
}

// OTLPMetrics implements pipeline.Host.
func (h *Host) OTLPMetrics(ids []string) consumer.Metrics {
	cs := make([]consumer.Metrics, len(ids))
	for i, id := range ids {
		cs[i] = metricsTo{endpoint{h, id}}
	}
	return pipeline.FanOutMetrics(cs...)
}

// OTLPLogs implements pipeline.Host.
func (h *Host) OTLPLogs(ids []string) consumer.Logs {
	cs := make([]consumer.Logs, len(ids))
	for i, id := range ids {
		cs[i] = logsTo{endpoint{h, id}}
	}
	return pipeline.FanOutLogs(cs...)
}

// tracesTo, metricsTo and logsTo send to the component exported under an id now, and say
// whether it modifies the data, as the controller's handles do: the fan-out copies only for
// consumers that do.
type (
	tracesTo  struct{ endpoint }
	metricsTo struct{ endpoint }
	logsTo    struct{ endpoint }
	endpoint  struct {
		h  *Host
		id string
	}
)

func (e tracesTo) Capabilities() consumer.Capabilities {
	r, err := otlpOf[pipeline.OTLPTracesReceiver](e.h, e.id, "traces")
	return capsOf(err, func() consumer.Capabilities { return r.Traces().Capabilities() })
}

func (e tracesTo) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	r, err := otlpOf[pipeline.OTLPTracesReceiver](e.h, e.id, "traces")
	if err != nil {
		return err
	}
	return r.Traces().ConsumeTraces(ctx, td)
}

func (e metricsTo) Capabilities() consumer.Capabilities {
	r, err := otlpOf[pipeline.OTLPMetricsReceiver](e.h, e.id, "metrics")
	return capsOf(err, func() consumer.Capabilities { return r.Metrics().Capabilities() })
}

func (e metricsTo) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	r, err := otlpOf[pipeline.OTLPMetricsReceiver](e.h, e.id, "metrics")
	if err != nil {
		return err
	}
	return r.Metrics().ConsumeMetrics(ctx, md)
}

func (e logsTo) Capabilities() consumer.Capabilities {
	r, err := otlpOf[pipeline.OTLPLogsReceiver](e.h, e.id, "logs")
	return capsOf(err, func() consumer.Capabilities { return r.Logs().Capabilities() })
}

func (e logsTo) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	r, err := otlpOf[pipeline.OTLPLogsReceiver](e.h, e.id, "logs")
	if err != nil {
		return err
	}
	return r.Logs().ConsumeLogs(ctx, ld)
}

func capsOf(err error, caps func() consumer.Capabilities) consumer.Capabilities {
	if err != nil {
		return consumer.Capabilities{}
	}
	return caps()
}

// otlpOf returns the component exported under id as an OTLP receiver of one signal, or the
// error the controller's handles answer with.
func otlpOf[R any](h *Host, id, signal string) (R, error) {
	h.mu.Lock()
	c := h.otlp[id]
	h.mu.Unlock()
	var zero R
	if c == nil {
		return zero, fmt.Errorf("component %s is not running", id)
	}
	r, ok := c.(R)
	if !ok {
		return zero, fmt.Errorf("component %s does not accept %s", id, signal)
	}
	return r, nil
}

// Appendable implements pipeline.Host.
func (h *Host) Appendable(ids []string) pipeline.Appendable { return h.Sink }

// Logs implements pipeline.Host.
func (h *Host) Logs(ids []string) pipeline.LogsReceiver { return h.LogsSink }

// Targets implements pipeline.Host.
func (h *Host) Targets(ids []string) pipeline.TargetsView {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := &view{host: h, ids: ids, ch: make(chan struct{}, 1)}
	h.views = append(h.views, v)
	return v
}

// SetTargets publishes ts as the targets of component id and notifies views.
func (h *Host) SetTargets(id string, ts pipeline.Targets) {
	h.mu.Lock()
	h.targets[id] = ts
	views := append([]*view(nil), h.views...)
	h.mu.Unlock()
	for _, v := range views {
		select {
		case v.ch <- struct{}{}:
		default:
		}
	}
}

// Published returns what component id last published.
func (h *Host) Published(id string) pipeline.Targets {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.targets[id]
}

type view struct {
	host *Host
	ids  []string
	ch   chan struct{}
}

func (v *view) Get() pipeline.Targets {
	v.host.mu.Lock()
	defer v.host.mu.Unlock()
	var out pipeline.Targets
	for _, id := range v.ids {
		out = append(out, v.host.targets[id]...)
	}
	return out
}

func (v *view) Changed() <-chan struct{} { return v.ch }

func (v *view) Close() {
	v.host.mu.Lock()
	defer v.host.mu.Unlock()
	for i, o := range v.host.views {
		if o == v {
			v.host.views = append(v.host.views[:i], v.host.views[i+1:]...)
			return
		}
	}
}
