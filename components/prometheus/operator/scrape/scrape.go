// Package scrape implements prometheus.operator.scrape: it scrapes the targets of the
// prometheus.operator.* components (directly or through discovery.shard) with one
// Prometheus scrape job per monitor endpoint or Probe, as the operator's Prometheus does,
// so that what cannot be a target label applies: metricRelabelings (metric_relabel_configs),
// honorLabels, and the TLS and credential settings (tlsConfig, basicAuth,
// bearerTokenSecret, authorization) with their Secrets and ConfigMaps read from the API
// server.
package scrape

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/components/prometheus/internal/scrapemgr"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.operator.scrape.
var Registration = pipeline.Register("prometheus.operator.scrape", DefaultArguments, New)

// settle coalesces bursts of target changes into one rebuild.
const settle = 200 * time.Millisecond

// Component is a running prometheus.operator.scrape.
//
// Run owns the scrape manager, the Kubernetes client and every goroutine; Update only
// stores the arguments. A change of forward_to or of the client restarts the manager.
type Component struct {
	opts  pipeline.Options
	args  *pipeline.Latest[*Arguments]
	jobs  *prometheus.GaugeVec
	reads *prometheus.CounterVec

	mu     sync.Mutex
	failed map[string]string // for DebugInfo; guarded by mu
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.DebugInfoProvider   = (*Component)(nil)
)

// New builds the component and registers its metrics; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{
		opts: opts,
		args: pipeline.NewLatest(args),
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sonde_prometheus_operator_scrape_jobs",
			Help: "Number of operator scrape jobs (monitor endpoints and Probes with targets), by state: active, or failed (a Secret or ConfigMap cannot be read, or a setting is rejected; the debug info and logs say why).",
		}, []string{"state"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_prometheus_operator_scrape_secret_reads_total",
			Help: "Number of Secrets and ConfigMaps read from the API server for the monitors' TLS and credentials, by result: ok, not_found, error (forbidden: see rbac.operatorSecrets).",
		}, []string{"result"}),
	}
	if err := pipeline.RegisterAll(opts.Registerer, c.jobs, c.reads); err != nil {
		return nil, err
	}
	return c, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	c.args.Store(args)
	return nil
}

// DebugInfo implements pipeline.DebugInfoProvider: the jobs not scraped, and why.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return map[string]any{"failed_jobs": maps.Clone(c.failed)}
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := c.run(ctx, c.args.Load()); err != nil {
			return err
		}
	}
	return nil
}

// run scrapes with one manager until ctx ends or forward_to or the client changes.
func (c *Component) run(ctx context.Context, args *Arguments) error {
	client, err := c.opts.Kube.Client(args.ClientArgs)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	defer client.Release()
	m, err := scrapemgr.Start(scrapemgr.Options{Logger: c.opts.Logger, Registerer: c.opts.Registerer,
		Appendable: c.opts.Host.Appendable(args.ForwardTo), ScrapeInterval: args.ScrapeInterval})
	if err != nil {
		return err
	}
	defer m.Stop()
	view := c.opts.Host.Targets(args.Targets)
	defer view.Close()
	c.opts.Logger.Info("operator scrape started", "forward_to", args.ForwardTo)

	var (
		applied  string
		secrets  = newReader(ctx, client.Clientset(), c.reads)
		reported = map[string]string{}
		timer    = time.NewTimer(0)
		refresh  = time.NewTicker(time.Duration(args.SecretsRefreshInterval))
	)
	defer timer.Stop()
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.args.Changed():
			next := c.args.Load()
			if !slices.Equal(next.ForwardTo, args.ForwardTo) || !slices.Equal(next.Targets, args.Targets) ||
				fmt.Sprintf("%#v", next.ClientArgs) != fmt.Sprintf("%#v", args.ClientArgs) {
				return nil
			}
			args, applied = next, "" // intervals, limits: rebuild the configs
			timer.Reset(settle)
		case <-view.Changed():
			timer.Reset(settle)
		case <-refresh.C:
			secrets.forget()
			timer.Reset(0)
		case <-timer.C:
			p := build(secrets, args, view.Get())
			if p.fingerprint != applied {
				if err := m.Apply(globalConfig(args), p.configs); err != nil {
					c.opts.Logger.Error("applying scrape configs failed", "err", err)
					c.opts.Health.Set(pipeline.HealthUnhealthy, err.Error())
					continue
				}
				applied = p.fingerprint
			}
			if !m.Sync(ctx, p.groups) {
				return nil
			}
			c.report(p, reported)
		}
	}
}

// report sets the metrics, health and debug info, and logs each job's failure once per
// reason.
func (c *Component) report(p plan, reported map[string]string) {
	c.jobs.WithLabelValues("active").Set(float64(len(p.configs)))
	c.jobs.WithLabelValues("failed").Set(float64(len(p.failed)))
	for job, why := range p.failed {
		if reported[job] != why {
			c.opts.Logger.Warn("operator scrape job not scraped", "job", job, "err", why)
		}
	}
	for job := range reported {
		if _, ok := p.failed[job]; !ok {
			delete(reported, job)
		}
	}
	maps.Copy(reported, p.failed)
	c.mu.Lock()
	c.failed = maps.Clone(p.failed)
	c.mu.Unlock()
	if len(p.failed) > 0 {
		c.opts.Health.Set(pipeline.HealthUnhealthy, fmt.Sprintf("%d operator jobs not scraped: %s", len(p.failed),
			strings.Join(slices.Sorted(maps.Keys(p.failed)), ", ")))
		return
	}
	c.opts.Health.Set(pipeline.HealthHealthy, "")
}
