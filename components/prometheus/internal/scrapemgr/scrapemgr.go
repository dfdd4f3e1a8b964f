// Package scrapemgr runs one Prometheus scrape manager for a component (prometheus.scrape,
// prometheus.operator.scrape): started with the options sonde's components share, fed
// scrape configs and target sets, and stopped so that no late reload starts anything.
package scrapemgr

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

// maxDiscoveryReloadInterval bounds how often target changes reach the scrape pools, as
// Prometheus does (5s): a churning discovery would otherwise restart scrape loops
// constantly. Shorter scrape intervals shorten it too.
const maxDiscoveryReloadInterval = 5 * time.Second

// Options are what differs between the managers of components.
type Options struct {
	Logger *slog.Logger
	// Registerer takes the manager's metrics; nil: a private registry. The controller
	// labels a component's registerer with its id, so managers do not collide.
	Registerer prometheus.Registerer
	// Appendable is where samples go (the component's forward_to).
	Appendable storage.Appendable
	// ScrapeInterval is the shortest scrape interval of the jobs.
	ScrapeInterval model.Duration
	// StartTimestamps passes targets' start (created) timestamps on (AppendSTZeroSample).
	StartTimestamps bool
}

// Manager is one running Prometheus scrape manager and the goroutine that runs it.
type Manager struct {
	mgr    *promscrape.Manager
	tsets  chan map[string][]*targetgroup.Group
	done   chan struct{} // closed when mgr.Run returned
	logger *slog.Logger
}

// Start starts a manager.
func Start(o Options) (*Manager, error) {
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	mgr, err := promscrape.NewManager(&promscrape.Options{
		DiscoveryReloadInterval:  model.Duration(min(maxDiscoveryReloadInterval, time.Duration(o.ScrapeInterval))),
		DiscoveryReloadOnStartup: true, // the first targets are scraped at once, not after the throttle
		// Each series' type, help and unit go to forward_to with its first sample and when
		// they change (storage.Appender.UpdateMetadata), for prometheus.serve to expose and
		// prometheus.remote_write to send.
		AppendMetadata: true,
		// Start (created) timestamps reach forward_to through AppendSTZeroSample, just before
		// their sample.
		EnableStartTimestampZeroIngestion: o.StartTimestamps,
	}, o.Logger, nil, o.Appendable, nil, reg)
	if err != nil {
		return nil, fmt.Errorf("scrape manager: %w", err)
	}
	m := &Manager{mgr: mgr, tsets: make(chan map[string][]*targetgroup.Group), done: make(chan struct{}), logger: o.Logger}
	go func() {
		defer close(m.done)
		if err := mgr.Run(m.tsets); err != nil {
			m.logger.Error("scrape manager failed", "err", err)
		}
	}()
	return m, nil
}

// Prometheus is the manager itself, for reading its targets.
func (m *Manager) Prometheus() *promscrape.Manager { return m.mgr }

// Apply hands the manager the jobs' configs: an unchanged job is left alone, a changed one
// restarts its scrape loops in place (keeping targets, and their series caches when only
// intervals, limits or HTTP settings changed).
func (m *Manager) Apply(global config.GlobalConfig, scs []*config.ScrapeConfig) error {
	// Load("") is the only way to get a Config that GetScrapeConfigs accepts.
	cfg, err := config.Load("", m.logger)
	if err != nil {
		return err
	}
	cfg.GlobalConfig = global
	cfg.ScrapeConfigs = scs
	return m.mgr.ApplyConfig(cfg)
}

// Sync hands the manager the full target set; false if ctx ended first.
func (m *Manager) Sync(ctx context.Context, tsets map[string][]*targetgroup.Group) bool {
	select {
	case m.tsets <- tsets:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stop stops the manager and returns once its scrape loops and Run have ended.
//
// Prometheus' reloader goroutine may run one more reload after Stop, which would start
// scrape pools for the last target sets that nobody stops. So the target sets are emptied
// first, and Run is waited for (it applies what it received before it returns on the
// closed channel): a late reload then finds nothing to start.
func (m *Manager) Stop() {
	m.tsets <- map[string][]*targetgroup.Group{}
	close(m.tsets)
	<-m.done
	m.mgr.Stop()
	m.mgr.UnregisterMetrics()
}
