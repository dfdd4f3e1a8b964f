// Package scrape implements prometheus.scrape: one scrape job for the component, fed the
// targets of the components in targets plus static_configs, and appending into the
// components in forward_to. Scrapes behave as Prometheus' (same target labels, samples,
// report series, staleness markers, limits and metadata; Prometheus' parsers and relabelling
// do the work), run by sonde's leaner scrape loop (see docs/scraping.md).
package scrape

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/sondehq/sonde/components/prometheus/internal/scrapemgr"
	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.scrape.
var Registration = pipeline.Register("prometheus.scrape", DefaultArguments, New)

// Component is a running prometheus.scrape.
//
// Run owns the scrape manager and is the only goroutine that talks to it (apart from
// Targets, which only reads); Update stores the new arguments and wakes Run. c.mu is never
// held while calling into the manager.
type Component struct {
	opts   pipeline.Options
	cfg    *pipeline.Latest[prepared] // Update stores, Run loads and waits on Changed
	health *healthReporter

	mu  sync.Mutex
	mgr *scrapemgr.Manager // guarded by mu; set while a manager runs
}

// prepared is one set of arguments and the scrape config built from them; neither is
// modified once stored.
type prepared struct {
	args *Arguments
	sc   *config.ScrapeConfig
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds a prometheus.scrape component and registers its metrics; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts, health: &healthReporter{health: opts.Health, logger: opts.Logger}}
	p, err := c.prepare(args)
	if err != nil {
		return nil, err
	}
	c.cfg = pipeline.NewLatest(p)
	if err := registerMetrics(opts.Registerer, c); err != nil {
		return nil, err
	}
	return c, nil
}

// prepare builds the scrape config, including an HTTP client, so that missing TLS or
// credential files fail New or Update rather than every scrape.
func (c *Component) prepare(a *Arguments) (prepared, error) {
	sc, err := a.scrapeConfig(c.opts.ID)
	if err != nil {
		return prepared{}, err
	}
	client, err := config_util.NewClientFromConfig(sc.HTTPClientConfig, sc.JobName)
	if err != nil {
		return prepared{}, fmt.Errorf("http client: %w", err)
	}
	client.CloseIdleConnections()
	return prepared{args: a, sc: sc}, nil
}

// Update implements pipeline.Updater. Changed scrape settings are applied to the running
// manager (targets whose labels are unchanged keep their series cache and staleness
// state); a changed forward_to restarts the manager, because series references it holds
// belong to the old destination.
func (c *Component) Update(args *Arguments) error {
	p, err := c.prepare(args)
	if err != nil {
		return err
	}
	c.cfg.Store(p)
	return nil
}

func (c *Component) current() (*Arguments, *config.ScrapeConfig) {
	p := c.cfg.Load()
	return p.args, p.sc
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	in := &input{host: c.opts.Host}
	defer in.close()
	for ctx.Err() == nil {
		args, _ := c.current()
		forwardTo := slices.Clone(args.ForwardTo)
		m, err := c.startManager(forwardTo)
		if err != nil {
			return err
		}
		c.opts.Logger.Info("scrape manager started", "forward_to", forwardTo)
		c.loop(ctx, m, in, forwardTo, args.StartTimestamps)
		c.setManager(nil)
		m.Stop()
	}
	return nil
}

// loop feeds m configuration and target updates until ctx ends or forward_to or
// start_timestamps (a manager option) changes, and checks the targets' health every scrape
// interval (at most every maxHealthCheckInterval).
func (c *Component) loop(ctx context.Context, m *scrapemgr.Manager, in *input, forwardTo []string, startTS bool) {
	var applied *config.ScrapeConfig
	first, _ := c.current()
	check := time.NewTicker(healthCheckInterval(first))
	defer check.Stop()
	for {
		args, sc := c.current()
		if !slices.Equal(args.ForwardTo, forwardTo) || args.StartTimestamps != startTS {
			return
		}
		if sc != applied {
			if applied != nil && applied.JobName != sc.JobName {
				// Withdraw the old job's targets first, so that no reload looks for the
				// config of a job that is gone.
				if !m.Sync(ctx, map[string][]*targetgroup.Group{}) {
					return
				}
			}
			err := apply(m, sc)
			if err != nil {
				c.opts.Logger.Error("applying scrape config failed", "err", err)
			}
			c.health.configApplied(err)
			check.Reset(healthCheckInterval(args))
			applied = sc
		}
		in.watch(args.Targets)
		if !m.Sync(ctx, map[string][]*targetgroup.Group{sc.JobName: groups(args, in.get())}) {
			return
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-in.changed():
				break wait
			case <-c.cfg.Changed():
				break wait
			case <-check.C:
				c.health.targets(summarize(m), args.UnhealthyDownRatio)
			}
		}
	}
}

// maxHealthCheckInterval bounds how long a change in the targets' health takes to show in
// the component's health when the scrape interval is long.
const maxHealthCheckInterval = 15 * time.Second

func healthCheckInterval(args *Arguments) time.Duration {
	return min(time.Duration(args.ScrapeInterval), maxHealthCheckInterval)
}

// groups converts the component's targets into Prometheus target groups: one for the
// referenced components' snapshot, one per static config.
func groups(args *Arguments, refs pipeline.Targets) []*targetgroup.Group {
	out := make([]*targetgroup.Group, 0, 1+len(args.StaticConfigs))
	if len(args.Targets) > 0 {
		out = append(out, targets.ToGroup("targets", refs))
	}
	for i, s := range args.StaticConfigs {
		g := &targetgroup.Group{Source: fmt.Sprintf("static_configs/%d", i), Labels: model.LabelSet{}}
		for k, v := range s.Labels {
			g.Labels[model.LabelName(k)] = model.LabelValue(v)
		}
		for _, t := range s.Targets {
			g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(t)})
		}
		out = append(out, g)
	}
	return out
}

// input is the component's view of its referenced targets, replaced when the references
// change. Used by Run only.
type input struct {
	host pipeline.Host
	ids  []string
	view pipeline.TargetsView
}

func (in *input) watch(ids []string) {
	if in.view != nil && slices.Equal(in.ids, ids) {
		return
	}
	in.close()
	in.ids = slices.Clone(ids)
	if len(ids) > 0 {
		in.view = in.host.Targets(ids)
	}
}

func (in *input) get() pipeline.Targets {
	if in.view == nil {
		return nil
	}
	return in.view.Get()
}

// changed returns the view's change channel; nil (never ready) without references.
func (in *input) changed() <-chan struct{} {
	if in.view == nil {
		return nil
	}
	return in.view.Changed()
}

func (in *input) close() {
	if in.view != nil {
		in.view.Close()
		in.view = nil
	}
}
