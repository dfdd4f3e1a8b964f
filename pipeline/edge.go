package pipeline

// Edges: how data crosses from one component to another.
//
// Every edge kind is wired the same way. A component exports a kind by implementing the
// kind's interface (kindInterfaces); the controller keeps one stable handle per component id
// and kind, points it at each new instance when it is built (handles.attach), and a
// component resolves the ids it references through its Host, which hands out the handles
// (fanned out and tapped). References therefore survive restarts of either end. One file
// per kind: edge_metrics.go, edge_targets.go, edge_logs.go, edge_otlp.go.

import (
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/consumer"
)

// EdgeKind names the kind of data flowing along an edge.
type EdgeKind string

// Host resolves references to stable handles, one method per edge kind.
type Host interface {
	// Appendable returns one Appendable that fans out to the given components in order.
	Appendable(ids []string) Appendable
	// Targets returns a view of the targets published by the given components.
	Targets(ids []string) TargetsView
	// Logs returns one LogsReceiver that fans out to the given components.
	Logs(ids []string) LogsReceiver
	// OTLPTraces, OTLPMetrics and OTLPLogs return one consumer that fans out to the given
	// components (see edge_otlp.go for ownership and errors).
	OTLPTraces(ids []string) consumer.Traces
	OTLPMetrics(ids []string) consumer.Metrics
	OTLPLogs(ids []string) consumer.Logs
}

// kindInterfaces tells, for each edge kind, whether a component implements the kind's
// interface.
var kindInterfaces = []struct {
	kind       EdgeKind
	iface      string
	implements func(any) bool
}{
	{KindMetrics, "MetricsReceiver", func(c any) bool { _, ok := c.(MetricsReceiver); return ok }},
	{KindTargets, "TargetsExporter", func(c any) bool { _, ok := c.(TargetsExporter); return ok }},
	{KindLogs, "LogsReceiver", func(c any) bool { _, ok := c.(LogsReceiver); return ok }},
	{KindOTLPTraces, "OTLPTracesReceiver", func(c any) bool { _, ok := c.(OTLPTracesReceiver); return ok }},
	{KindOTLPMetrics, "OTLPMetricsReceiver", func(c any) bool { _, ok := c.(OTLPMetricsReceiver); return ok }},
	{KindOTLPLogs, "OTLPLogsReceiver", func(c any) bool { _, ok := c.(OTLPLogsReceiver); return ok }},
}

// implementedKinds returns the edge kinds c implements, in kindInterfaces order.
func implementedKinds(c any) []EdgeKind {
	out := []EdgeKind{}
	for _, k := range kindInterfaces {
		if k.implements(c) {
			out = append(out, k.kind)
		}
	}
	return out
}

// exportsMatch reports an error unless declared and implemented hold the same kinds.
func exportsMatch(typ string, declared, implemented []EdgeKind) error {
	for _, k := range kindInterfaces {
		d, i := slices.Contains(declared, k.kind), slices.Contains(implemented, k.kind)
		switch {
		case d && !i:
			return fmt.Errorf("%s exports %s but does not implement pipeline.%s", typ, k.kind, k.iface)
		case i && !d:
			return fmt.Errorf("%s implements pipeline.%s but does not export %s", typ, k.iface, k.kind)
		}
	}
	return nil
}

// handles are the stable handles of one component id, one per edge kind. They outlive
// restarts and in-place updates of the component.
type handles struct {
	metrics *metricsHandle
	targets *targetsHandle
	logs    *logsHandle
	otlp    *otlpHandle
}

func newHandles(id string) *handles {
	return &handles{
		metrics: &metricsHandle{id: id},
		targets: newTargetsHandle(),
		logs:    &logsHandle{id: id},
		otlp:    &otlpHandle{id: id},
	}
}

// attach points the handles at what instance c exports.
func (h *handles) attach(c Component) {
	if r, ok := c.(MetricsReceiver); ok {
		h.metrics.set(r.Appendable())
	}
	if e, ok := c.(TargetsExporter); ok {
		h.targets.attach(e.ExportedTargets())
	}
	if r, ok := c.(LogsReceiver); ok {
		h.logs.set(r)
	}
	h.otlp.attach(c)
}

// detach empties the handles of a component removed from the graph: sends to it fail (or
// wait, for logs) and its targets disappear.
func (h *handles) detach() {
	h.metrics.set(nil)
	h.targets.attach(nil)
	h.targets.publish(nil)
	h.logs.set(nil)
	h.otlp.attach(nil)
}
