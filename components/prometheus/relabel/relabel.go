// Package promrelabel implements prometheus.relabel: it applies Prometheus relabelling rules
// to the labels of every series appended to it, drops the series the rules drop, and
// forwards the rest to the components in forward_to. Results are cached per input series,
// because relabelling runs for every sample of every scrape.
package promrelabel

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/storage"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.relabel.
var Registration = pipeline.Registration{
	Type:    "prometheus.relabel",
	Args:    func() pipeline.Arguments { return NewArguments() },
	Exports: []pipeline.EdgeKind{pipeline.KindMetrics},
	New: func(opts pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
		return New(opts, args)
	},
}

// Component is a running prometheus.relabel. Its Appendable is the component itself and
// stays valid for the component's life, before Run starts and after it returns included.
type Component struct {
	opts    pipeline.Options
	metrics *metrics
	state   atomic.Pointer[state]
}

// state is what one set of arguments resolves to. Update replaces it as a whole; an
// appender keeps the state it started with until it commits or rolls back, so a batch
// never sees half of an update.
type state struct {
	rules []*relabel.Config
	next  storage.Appendable
	cache *cache // nil: caching off
}

var (
	_ pipeline.Component       = (*Component)(nil)
	_ pipeline.Updater         = (*Component)(nil)
	_ pipeline.MetricsReceiver = (*Component)(nil)
	_ storage.Appendable       = (*Component)(nil)
)

// New builds a prometheus.relabel component; it starts nothing.
func New(opts pipeline.Options, args pipeline.Arguments) (*Component, error) {
	c := &Component{opts: opts}
	c.metrics = newMetrics(func() float64 { return float64(c.state.Load().cache.len()) })
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Update implements pipeline.Updater: rules and forward_to change together, and the cache
// starts empty (cached results and downstream references belong to the old rules).
func (c *Component) Update(args pipeline.Arguments) error {
	a, ok := args.(*Arguments)
	if !ok || a == nil {
		return fmt.Errorf("prometheus.relabel: unexpected arguments type %T", args)
	}
	// Validate again: it completes the rules (name validation scheme) that relabelling
	// needs, and arguments built in code may not have been validated by the loader.
	if err := a.Validate(); err != nil {
		return err
	}
	c.state.Store(&state{
		rules: a.Rules,
		next:  c.opts.Host.Appendable(a.ForwardTo),
		cache: newCache(a.MaxCacheSize),
	})
	return nil
}

// Run implements pipeline.Component. Relabelling happens on the appending goroutines, so
// Run only registers the metrics and waits for the end.
func (c *Component) Run(ctx context.Context) error {
	if err := c.metrics.register(c.opts.Registerer); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	defer c.metrics.unregister()
	c.opts.Health.Set(pipeline.HealthHealthy, "")
	<-ctx.Done()
	return nil
}

// Appendable implements pipeline.MetricsReceiver.
func (c *Component) Appendable() pipeline.Appendable { return c }

// Appender implements storage.Appendable.
func (c *Component) Appender(ctx context.Context) storage.Appender {
	st := c.state.Load()
	return newAppender(st, st.next.Appender(ctx), c.metrics)
}
