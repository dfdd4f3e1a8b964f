// Package self implements prometheus.exporter.self: one target pointing at sonde's own
// /metrics, so that prometheus.scrape collects the agent's metrics like any other target.
package self

import (
	"context"
	"sync"

	"github.com/sondehq/sonde/components/prometheus/internal/inprocess"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.exporter.self.
var Registration = pipeline.Register("prometheus.exporter.self", DefaultArguments, New, pipeline.KindTargets)

// metricsPath is where sonde's HTTP server serves its own metrics.
const metricsPath = "/metrics"

// Component publishes the target.
type Component struct {
	pipeline.TargetsPublisher
	opts pipeline.Options

	mu      sync.Mutex // orders publications
	args    *Arguments
	running bool
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New returns a component.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	return &Component{opts: opts, args: args}, nil
}

// Run publishes the target and waits for ctx to end.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	c.running = true
	c.publish()
	c.mu.Unlock()
	if c.opts.Health != nil {
		c.opts.Health.Set(pipeline.HealthHealthy, "")
	}
	<-ctx.Done()
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	return nil
}

// Update applies new labels.
func (c *Component) Update(args *Arguments) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.args = args
	if c.running {
		c.publish()
	}
	return nil
}

// publish sends the target; the caller holds c.mu.
func (c *Component) publish() {
	c.Publish(inprocess.Target(c.opts.ServerAddr, metricsPath, c.args.Job, c.args.Instance))
}
