package scrape

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
)

// manager is one running Prometheus scrape manager and the goroutine that runs it.
type manager struct {
	mgr    *promscrape.Manager
	tsets  chan map[string][]*targetgroup.Group
	done   chan struct{} // closed when mgr.Run returned
	logger *slog.Logger
}

// startManager starts a scrape manager appending into forwardTo and records it for
// Targets. Its metrics go to the component's registerer, which the controller labels with
// the component id, so managers of different components do not collide.
func (c *Component) startManager(forwardTo []string) (*manager, error) {
	args, _ := c.current()
	reg := c.opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	opts := &promscrape.Options{
		DiscoveryReloadInterval:  model.Duration(min(maxDiscoveryReloadInterval, time.Duration(args.ScrapeInterval))),
		DiscoveryReloadOnStartup: true, // the first targets are scraped at once, not after the throttle
		// Each series' type, help and unit go to forward_to with its first sample and when
		// they change (storage.Appender.UpdateMetadata), for prometheus.serve to expose and
		// prometheus.remote_write to send.
		AppendMetadata: true,
		// Start (created) timestamps reach forward_to through AppendSTZeroSample, just before
		// their sample.
		EnableStartTimestampZeroIngestion: args.StartTimestamps,
	}
	mgr, err := promscrape.NewManager(opts, c.opts.Logger, nil, c.opts.Host.Appendable(forwardTo), nil, reg)
	if err != nil {
		return nil, fmt.Errorf("scrape manager: %w", err)
	}
	m := &manager{
		mgr:    mgr,
		tsets:  make(chan map[string][]*targetgroup.Group),
		done:   make(chan struct{}),
		logger: c.opts.Logger,
	}
	go func() {
		defer close(m.done)
		if err := mgr.Run(m.tsets); err != nil {
			m.logger.Error("scrape manager failed", "err", err)
		}
	}()
	c.setManager(mgr)
	return m, nil
}

func (c *Component) setManager(mgr *promscrape.Manager) {
	c.mu.Lock()
	c.mgr = mgr
	c.mu.Unlock()
}

// apply hands sc to the manager: a pool whose config is unchanged is left alone, a
// changed one restarts its scrape loops in place (keeping targets, and their series
// caches when only intervals, limits or HTTP settings changed).
func (m *manager) apply(sc *config.ScrapeConfig) error {
	// Load("") is the only way to get a Config that GetScrapeConfigs accepts.
	cfg, err := config.Load("", m.logger)
	if err != nil {
		return err
	}
	cfg.GlobalConfig = globalConfig(sc.ScrapeInterval)
	cfg.ScrapeConfigs = []*config.ScrapeConfig{sc}
	return m.mgr.ApplyConfig(cfg)
}

// sync hands the manager the full target set; false if ctx ended first.
func (m *manager) sync(ctx context.Context, tsets map[string][]*targetgroup.Group) bool {
	select {
	case m.tsets <- tsets:
		return true
	case <-ctx.Done():
		return false
	}
}

// stop stops the manager and returns once its scrape loops and Run have ended.
//
// Prometheus' reloader goroutine may run one more reload after Stop, which would start
// scrape pools for the last target sets that nobody stops. So the target sets are
// emptied first, and Run is waited for (it applies what it received before it returns on
// the closed channel): a late reload then finds nothing to start.
func (m *manager) stop() {
	m.tsets <- map[string][]*targetgroup.Group{}
	close(m.tsets)
	<-m.done
	m.mgr.Stop()
	m.mgr.UnregisterMetrics()
}
