// Package self implements prometheus.exporter.self: one target pointing at sonde's own
// /metrics, so that prometheus.scrape collects the agent's metrics like any other target.
package self

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.exporter.self.
var Registration = pipeline.Registration{
	Type:    "prometheus.exporter.self",
	Args:    func() pipeline.Arguments { return DefaultArguments() },
	Exports: []pipeline.EdgeKind{pipeline.KindTargets},
	New: func(opts pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
		a, ok := args.(*Arguments)
		if !ok {
			return nil, fmt.Errorf("prometheus.exporter.self: unexpected arguments type %T", args)
		}
		return New(opts, a), nil
	},
}

// metricsPath is where sonde's HTTP server serves its own metrics.
const metricsPath = "/metrics"

// Component publishes the target.
type Component struct {
	opts     pipeline.Options
	hostname string

	mu      sync.Mutex
	args    Arguments
	running bool
}

var (
	_ pipeline.Component = (*Component)(nil)
	_ pipeline.Updater   = (*Component)(nil)
)

// New returns a component.
func New(opts pipeline.Options, args *Arguments) *Component {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return &Component{opts: opts, hostname: host, args: *args}
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
func (c *Component) Update(args pipeline.Arguments) error {
	a, ok := args.(*Arguments)
	if !ok {
		return fmt.Errorf("prometheus.exporter.self: unexpected arguments type %T", args)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.args = *a
	if c.running {
		c.publish()
	}
	return nil
}

// publish sends the target; the caller holds c.mu, which orders concurrent publications.
func (c *Component) publish() {
	if c.opts.PublishTargets == nil {
		return
	}
	instance := c.args.Instance
	if instance == "" {
		instance = c.hostname
	}
	c.opts.PublishTargets(pipeline.Targets{{
		model.AddressLabel:     model.LabelValue(c.opts.ServerAddr),
		model.MetricsPathLabel: metricsPath,
		model.InstanceLabel:    model.LabelValue(instance),
		model.JobLabel:         model.LabelValue(c.args.Job),
	}})
}
