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
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.processor.k8sattributes.
var Registration = pipeline.Registration{
	Type:    "otelcol.processor.k8sattributes",
	Args:    func() pipeline.Arguments { return NewArguments() },
	Exports: []pipeline.EdgeKind{pipeline.KindOTLPTraces, pipeline.KindOTLPMetrics, pipeline.KindOTLPLogs},
	New: func(opts pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
		return New(opts, args)
	},
}

// Component is a running otelcol.processor.k8sattributes.
type Component struct {
	opts    pipeline.Options
	metrics *metrics
	fixed   PodLookup // set by NewWithLookup; otherwise the pods targets are used

	mu      sync.Mutex
	cfg     settings
	changed chan struct{}

	tc consumer.Traces
	mc consumer.Metrics
	lc consumer.Logs
}

type settings struct {
	lookup         PodLookup
	targets        *targetsLookup // nil with a fixed lookup
	fromConnection bool
	traces         consumer.Traces
	metrics        consumer.Metrics
	logs           consumer.Logs
}

var (
	_ pipeline.Component    = (*Component)(nil)
	_ pipeline.Updater      = (*Component)(nil)
	_ pipeline.OTLPReceiver = (*Component)(nil)
)

// New builds the component with the pod targets of args.Pods as its pod lookup.
func New(opts pipeline.Options, args pipeline.Arguments) (*Component, error) {
	return NewWithLookup(opts, args, nil)
}

// NewWithLookup builds the component with a given pod lookup (args.Pods is then not
// consulted); nil means the pod targets.
func NewWithLookup(opts pipeline.Options, args pipeline.Arguments, lookup PodLookup) (*Component, error) {
	c := &Component{opts: opts, metrics: newMetrics(opts.Registerer), fixed: lookup, changed: make(chan struct{}, 1)}
	c.tc, _ = consumer.NewTraces(c.consumeTraces, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	c.mc, _ = consumer.NewMetrics(c.consumeMetrics, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	c.lc, _ = consumer.NewLogs(c.consumeLogs, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	if err := c.Update(args); err != nil {
		return nil, err
	}
	pipeline.ExportOTLP(opts, c)
	return c, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args pipeline.Arguments) error {
	a, ok := args.(*Arguments)
	if !ok || a == nil {
		return fmt.Errorf("otelcol.processor.k8sattributes: unexpected arguments type %T", args)
	}
	if c.fixed == nil {
		if err := a.Validate(); err != nil {
			return err
		}
	} else if a.Output.Empty() {
		return a.Validate()
	}
	s := settings{fromConnection: a.FromConnection, lookup: c.fixed}
	if c.fixed == nil {
		s.targets = newTargetsLookup(c.opts.Host.Targets(a.Pods))
		s.lookup = s.targets
		c.metrics.pods.Set(float64(s.targets.current().Len()))
	}
	host := c.opts.Host
	s.traces = refuseIfNone(c.opts.ID, "traces", a.Output.Traces, func() consumer.Traces { return pipeline.OTLPTraces(host, a.Output.Traces) })
	s.metrics = refuseIfNone(c.opts.ID, "metrics", a.Output.Metrics, func() consumer.Metrics { return pipeline.OTLPMetrics(host, a.Output.Metrics) })
	s.logs = refuseIfNone(c.opts.ID, "logs", a.Output.Logs, func() consumer.Logs { return pipeline.OTLPLogs(host, a.Output.Logs) })
	c.mu.Lock()
	old := c.cfg.targets
	c.cfg = s
	c.mu.Unlock()
	if old != nil {
		old.view.Close()
	}
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

func refuseIfNone[T any](id, signal string, ids []string, resolve func() T) T {
	if len(ids) > 0 {
		return resolve()
	}
	err := status.Error(codes.Unimplemented, fmt.Sprintf("%s has no %s output", id, signal))
	var out any
	switch signal {
	case "traces":
		out, _ = consumer.NewTraces(func(context.Context, ptrace.Traces) error { return err })
	case "metrics":
		out, _ = consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return err })
	default:
		out, _ = consumer.NewLogs(func(context.Context, plog.Logs) error { return err })
	}
	return out.(T)
}

// Run keeps the pod index up to date with the pod targets until ctx ends.
func (c *Component) Run(ctx context.Context) error {
	defer pipeline.ReleaseOTLP(c.opts, c)
	defer func() {
		c.mu.Lock()
		t := c.cfg.targets
		c.mu.Unlock()
		if t != nil {
			t.view.Close()
		}
	}()
	for {
		c.mu.Lock()
		t := c.cfg.targets
		c.mu.Unlock()
		var changed <-chan struct{}
		if t != nil {
			changed = t.view.Changed()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
		case <-changed:
			n := t.refresh()
			c.metrics.pods.Set(float64(n))
		}
	}
}

func (c *Component) current() settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

func (c *Component) connIP(ctx context.Context, s settings) string {
	if !s.fromConnection {
		return ""
	}
	return connectionIP(ctx)
}

func (c *Component) count(result string) { c.metrics.resources.WithLabelValues(result).Inc() }

func (c *Component) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	s := c.current()
	ip := c.connIP(ctx, s)
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		c.count(enrich(td.ResourceSpans().At(i).Resource(), s.lookup, ip))
	}
	return s.traces.ConsumeTraces(ctx, td)
}

func (c *Component) consumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	s := c.current()
	ip := c.connIP(ctx, s)
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		c.count(enrich(md.ResourceMetrics().At(i).Resource(), s.lookup, ip))
	}
	return s.metrics.ConsumeMetrics(ctx, md)
}

func (c *Component) consumeLogs(ctx context.Context, ld plog.Logs) error {
	s := c.current()
	ip := c.connIP(ctx, s)
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		c.count(enrich(ld.ResourceLogs().At(i).Resource(), s.lookup, ip))
	}
	return s.logs.ConsumeLogs(ctx, ld)
}

// Traces implements pipeline.OTLPReceiver.
func (c *Component) Traces() consumer.Traces { return c.tc }

// Metrics implements pipeline.OTLPReceiver.
func (c *Component) Metrics() consumer.Metrics { return c.mc }

// Logs implements pipeline.OTLPReceiver.
func (c *Component) Logs() consumer.Logs { return c.lc }
