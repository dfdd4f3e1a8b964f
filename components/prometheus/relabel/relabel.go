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
var Registration = pipeline.Register("prometheus.relabel", DefaultArguments, New, pipeline.KindMetrics)

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
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.MetricsReceiver     = (*Component)(nil)
	_ storage.Appendable           = (*Component)(nil)
)

// New builds a prometheus.relabel component and registers its metrics; it starts nothing.
// args must be validated (pipeline.Register does it): Validate completes the rules.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts}
	m, err := newMetrics(opts.Registerer, func() float64 { return float64(c.state.Load().cache.len()) })
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	c.metrics = m
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Update implements pipeline.Updater: rules and forward_to change together, and the cache
// starts empty (cached results and downstream references belong to the old rules). Like
// New, it takes validated arguments.
func (c *Component) Update(a *Arguments) error {
	c.state.Store(&state{
		rules: a.Rules,
		next:  c.opts.Host.Appendable(a.ForwardTo),
		cache: newCache(a.MaxCacheSize),
	})
	return nil
}

// Run implements pipeline.Component. Relabelling happens on the appending goroutines, so
// Run only waits for the end.
func (c *Component) Run(ctx context.Context) error {
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
