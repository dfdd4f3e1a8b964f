// Package static implements discovery.static: a fixed list of targets, published as a
// target set so that other components (discovery.relabel, discovery.shard) can take them
// like discovered ones, e.g. cluster-wide service addresses that one agent of a DaemonSet
// should scrape.
package static

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares discovery.static.
var Registration = pipeline.Register("discovery.static", DefaultArguments, New, pipeline.KindTargets)

// Arguments configure discovery.static, as Prometheus' static_configs.
//
//	discovery.static/cluster:
//	  static_configs:
//	    - targets: [argo-rollouts-metrics.argo-rollouts.svc:8090]
//	      labels: {job: argo-rollouts}
type Arguments struct {
	// StaticConfigs are the groups of targets published, in order; at least one.
	StaticConfigs []StaticConfig `yaml:"static_configs"`
}

// StaticConfig is a list of host:port targets sharing labels.
type StaticConfig struct {
	// Targets are host:port addresses, each published as a target's __address__; at
	// least one.
	Targets []string `yaml:"targets"`
	// Labels are added to every target of the group.
	Labels map[string]string `yaml:"labels"`
}

// DefaultArguments returns Arguments with their defaults: none.
func DefaultArguments() *Arguments { return &Arguments{} }

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.StaticConfigs) == 0 {
		errs = append(errs, pipeline.Field("static_configs", "at least one is required"))
	}
	for i, sc := range a.StaticConfigs {
		path := fmt.Sprintf("static_configs[%d]", i)
		if len(sc.Targets) == 0 {
			errs = append(errs, pipeline.Field(path+".targets", "at least one target is required"))
		}
		for j, t := range sc.Targets {
			if t == "" || strings.Contains(t, "/") {
				errs = append(errs, pipeline.Field(fmt.Sprintf("%s.targets[%d]", path, j), "%q is not host:port", t))
			}
		}
		for k, v := range sc.Labels {
			if !model.UTF8Validation.IsValidLabelName(k) || !utf8.ValidString(v) {
				errs = append(errs, pipeline.Field(path+".labels."+k, "invalid label"))
			}
		}
	}
	return errors.Join(errs...)
}

// Targets returns the targets the arguments describe, in order.
func (a *Arguments) Targets() pipeline.Targets {
	var out pipeline.Targets
	for _, sc := range a.StaticConfigs {
		for _, t := range sc.Targets {
			ls := make(model.LabelSet, len(sc.Labels)+1)
			for k, v := range sc.Labels {
				ls[model.LabelName(k)] = model.LabelValue(v)
			}
			ls[model.AddressLabel] = model.LabelValue(t)
			out = append(out, ls)
		}
	}
	return out
}

// Component is a running discovery.static. It publishes when Run starts and on every
// Update; it starts no goroutine.
type Component struct {
	pipeline.TargetsPublisher

	opts pipeline.Options
	mu   sync.Mutex
	args *Arguments // guarded by mu
	run  bool       // guarded by mu; Run has published
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds a discovery.static component.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	return &Component{opts: opts, args: args}, nil
}

// Run implements pipeline.Component: it publishes the targets and waits.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	c.Publish(c.args.Targets())
	c.run = true
	c.mu.Unlock()
	c.opts.Health.Set(pipeline.HealthHealthy, "")
	<-ctx.Done()
	return nil
}

// Update implements pipeline.Updater: the new targets are published at once.
func (c *Component) Update(args *Arguments) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.args = args
	if c.run {
		c.Publish(args.Targets())
	}
	return nil
}
