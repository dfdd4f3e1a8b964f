// Package relabel implements discovery.relabel: it applies Prometheus relabelling rules to
// the target sets of other components and publishes the result, dropping the targets the
// rules drop. It always works on full snapshots: every change of its input republishes
// the whole output.
package relabel

import (
	"context"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares discovery.relabel. Register validates the arguments before New and
// Update, which also completes the rules for Process.
var Registration = pipeline.Register("discovery.relabel", DefaultArguments, New, pipeline.KindTargets)

// Component is a running discovery.relabel.
//
// Run owns the only goroutine; Update hands new arguments to it through c.args, so the
// input view and the published output are only touched from Run.
type Component struct {
	pipeline.TargetsPublisher

	opts    pipeline.Options
	metrics *metrics

	args *pipeline.Latest[*Arguments] // Update stores, Run loads and waits on Changed
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds a discovery.relabel component from validated arguments; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	m := newMetrics()
	if err := m.register(opts.Registerer); err != nil {
		return nil, err
	}
	return &Component{opts: opts, metrics: m, args: pipeline.NewLatest(args)}, nil
}

// Update implements pipeline.Updater: the new rules and inputs apply at once.
func (c *Component) Update(args *Arguments) error {
	c.args.Store(args)
	return nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	var (
		view      pipeline.TargetsView
		viewIDs   []string
		published pipeline.Targets
		first     = true
	)
	defer func() {
		if view != nil {
			view.Close()
		}
	}()
	c.opts.Health.Set(pipeline.HealthHealthy, "")
	for {
		args := c.args.Load()
		if view == nil || !slices.Equal(viewIDs, args.Targets) {
			if view != nil {
				view.Close()
			}
			view = c.opts.Host.Targets(args.Targets)
			viewIDs = slices.Clone(args.Targets)
			c.opts.Logger.Info("watching targets", "targets", viewIDs)
		}

		in := view.Get()
		out := Process(in, args.Rules)
		c.metrics.observe(len(in), len(out))
		if first || !targets.Equal(out, published) {
			c.Publish(out)
			c.metrics.published.Inc()
			published, first = out, false
		}

		select {
		case <-ctx.Done():
			return nil
		case <-view.Changed():
		case <-c.args.Changed():
		}
	}
}

// Process applies rules to every target of in and returns the kept ones, in input order.
// A target that the rules drop, or whose labels all vanish, is left out. in is not
// modified; the result shares no maps with it. The rules must have been validated.
func Process(in pipeline.Targets, rules []*relabel.Config) pipeline.Targets {
	out := make(pipeline.Targets, 0, len(in))
	lb := labels.NewBuilder(labels.EmptyLabels())
	for _, t := range in {
		lb.Reset(labels.EmptyLabels())
		for k, v := range t {
			lb.Set(string(k), string(v))
		}
		if !relabel.ProcessBuilder(lb, rules...) {
			continue
		}
		ls := make(model.LabelSet)
		lb.Range(func(l labels.Label) {
			ls[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		})
		if len(ls) == 0 {
			continue
		}
		out = append(out, ls)
	}
	return out
}
