// Package k8sattributes implements otelcol.processor.k8sattributes: it adds the
// Kubernetes attributes of the sending pod (k8s.namespace.name, k8s.pod.name, k8s.pod.uid,
// k8s.node.name, k8s.container.name, k8s.deployment.name, and the other controller names)
// to the resource of spans, metrics and logs. Pods come from a PodLookup: in a graph, the
// pod targets of a node-local discovery.kubernetes component.
//
// Place it before otelcol.processor.batch: the connection's source IP is known only on the
// request's own way through the graph.
package k8sattributes

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.processor.k8sattributes.
var Registration = pipeline.Register("otelcol.processor.k8sattributes", DefaultArguments, New,
	pipeline.KindOTLPTraces, pipeline.KindOTLPMetrics, pipeline.KindOTLPLogs)

// Component is a running otelcol.processor.k8sattributes.
type Component struct {
	opts    pipeline.Options
	metrics *metrics
	fixed   PodLookup                   // set by NewWithLookup; otherwise the pods targets are used
	cfg     *pipeline.Latest[*settings] // Update stores; Run follows the new pod targets on Changed

	tc consumer.Traces
	mc consumer.Metrics
	lc consumer.Logs
}

// settings are what the arguments come to.
type settings struct {
	lookup         PodLookup
	targets        *targetsLookup // nil with a fixed lookup
	fromConnection bool
	next           otelcol.Consumers
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds the component with the pod targets of args.Pods as its pod lookup.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	return NewWithLookup(opts, args, nil)
}

// NewWithLookup builds the component with a given pod lookup (args.Pods is then not
// consulted); nil means the pod targets.
func NewWithLookup(opts pipeline.Options, args *Arguments, lookup PodLookup) (*Component, error) {
	c := &Component{opts: opts, metrics: newMetrics(opts.Registerer), fixed: lookup}
	c.cfg = pipeline.NewLatest(c.settings(args))
	c.tc, _ = consumer.NewTraces(c.consumeTraces, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	c.mc, _ = consumer.NewMetrics(c.consumeMetrics, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	c.lc, _ = consumer.NewLogs(c.consumeLogs, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	return c, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	old := c.cfg.Load().targets
	c.cfg.Store(c.settings(args))
	if old != nil {
		old.view.Close()
	}
	return nil
}

// settings resolves the pod targets and the outputs of a.
func (c *Component) settings(a *Arguments) *settings {
	s := &settings{fromConnection: a.FromConnection, lookup: c.fixed, next: a.Output.Consumers(c.opts.Host, c.opts.ID)}
	if c.fixed == nil {
		s.targets = newTargetsLookup(c.opts.Host.Targets(a.Pods))
		s.lookup = s.targets
		c.metrics.pods.Set(float64(s.targets.current().Len()))
	}
	return s
}

// Run keeps the pod index up to date with the pod targets until ctx ends.
func (c *Component) Run(ctx context.Context) error {
	defer func() {
		if t := c.cfg.Load().targets; t != nil {
			t.view.Close()
		}
	}()
	for {
		t := c.cfg.Load().targets
		var changed <-chan struct{}
		if t != nil {
			changed = t.view.Changed()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.cfg.Changed():
		case <-changed:
			n := t.refresh()
			c.metrics.pods.Set(float64(n))
		}
	}
}

func (c *Component) connIP(ctx context.Context, s *settings) string {
	if !s.fromConnection {
		return ""
	}
	return connectionIP(ctx)
}

func (c *Component) count(result string) { c.metrics.resources.WithLabelValues(result).Inc() }

func (c *Component) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	s := c.cfg.Load()
	ip := c.connIP(ctx, s)
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		c.count(enrich(td.ResourceSpans().At(i).Resource(), s.lookup, ip))
	}
	return s.next.Traces.ConsumeTraces(ctx, td)
}

func (c *Component) consumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	s := c.cfg.Load()
	ip := c.connIP(ctx, s)
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		c.count(enrich(md.ResourceMetrics().At(i).Resource(), s.lookup, ip))
	}
	return s.next.Metrics.ConsumeMetrics(ctx, md)
}

func (c *Component) consumeLogs(ctx context.Context, ld plog.Logs) error {
	s := c.cfg.Load()
	ip := c.connIP(ctx, s)
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		c.count(enrich(ld.ResourceLogs().At(i).Resource(), s.lookup, ip))
	}
	return s.next.Logs.ConsumeLogs(ctx, ld)
}

// Traces implements pipeline.OTLPTracesReceiver.
func (c *Component) Traces() consumer.Traces { return c.tc }

// Metrics implements pipeline.OTLPMetricsReceiver.
func (c *Component) Metrics() consumer.Metrics { return c.mc }

// Logs implements pipeline.OTLPLogsReceiver.
func (c *Component) Logs() consumer.Logs { return c.lc }
