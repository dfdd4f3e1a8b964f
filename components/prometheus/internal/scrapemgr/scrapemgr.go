// Package scrapemgr runs the scrapes of a component (prometheus.scrape,
// prometheus.operator.scrape): jobs (Prometheus scrape configs), their targets, and one
// scrape loop per target appending into the component's forward_to.
//
// It does what Prometheus' scrape manager does, reusing its parts (target labels and
// relabelling, the exposition parsers, the HTTP client config, *scrape.Target for status),
// with sonde's own scrape loop: Prometheus' keeps a map from each series' text to its labels
// and two maps of refs for staleness, all touched for every sample of every scrape, which
// made it half of sonde's CPU and two thirds of its heap on a metrics-only node (see
// docs/benchmarks.md). The loop here compares each series with the one at the same place in
// the previous scrape, and finds stale series by walking that scrape's order once.
package scrapemgr

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/pool"
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

// Manager runs the jobs given to Apply on the targets given to Sync.
type Manager struct {
	o          Options
	logger     *slog.Logger
	m          *metrics
	buffers    *pool.Pool
	offsetSeed uint64
	ctx        context.Context // cancelled by Stop: loops end without staleness markers
	cancel     context.CancelFunc

	mu      sync.Mutex // guards pools, configs, tsets
	pools   map[string]*scrapePool
	configs map[string]*config.ScrapeConfig
	tsets   map[string][]*targetgroup.Group

	pending  chan map[string][]*targetgroup.Group // the latest target sets not applied yet
	done     chan struct{}                        // closed when the reloader returned
	stopOnce sync.Once
}

// Start starts a manager.
func Start(o Options) (*Manager, error) {
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("scrape manager: %w", err)
	}
	mgr := &Manager{
		o: o, logger: o.Logger, m: m,
		// Scrape bodies are read into buffers shared by the loops, sized by powers of 3
		// from 1 kB to 100 MB, as Prometheus does.
		buffers: pool.New(1e3, 100e6, 3, func(sz int) any { return make([]byte, 0, sz) }),
		pools:   map[string]*scrapePool{}, configs: map[string]*config.ScrapeConfig{},
		pending: make(chan map[string][]*targetgroup.Group, 1),
		done:    make(chan struct{}),
	}
	if host, err := os.Hostname(); err == nil { // agents on different nodes scrape at different phases
		h := fnv.New64a()
		_, _ = h.Write([]byte(host))
		mgr.offsetSeed = h.Sum64()
	}
	mgr.ctx, mgr.cancel = context.WithCancel(context.Background())
	go mgr.reloader(min(maxDiscoveryReloadInterval, time.Duration(o.ScrapeInterval)))
	return mgr, nil
}

// reloader applies the latest target sets: the first at once, later ones at most every
// interval.
func (m *Manager) reloader(interval time.Duration) {
	defer close(m.done)
	for {
		select {
		case <-m.ctx.Done():
			return
		case tsets := <-m.pending:
			m.sync(tsets)
		}
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Apply hands the manager the jobs' configs: an unchanged job is left alone, a changed one
// restarts its scrape loops in place (keeping targets, and their series caches when only
// intervals, limits or HTTP settings changed), a job no longer listed stops.
func (m *Manager) Apply(_ config.GlobalConfig, scs []*config.ScrapeConfig) error {
	for _, sc := range scs {
		if sc.ScrapeFailureLogFile != "" || sc.ExtraScrapeMetricsEnabled() {
			return fmt.Errorf("job %q: scrape_failure_log_file and extra_scrape_metrics are not supported", sc.JobName)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return context.Canceled
	}
	want := map[string]*config.ScrapeConfig{}
	for _, sc := range scs {
		want[sc.JobName] = sc
	}
	for name, p := range m.pools {
		if want[name] == nil {
			p.stop()
			delete(m.pools, name)
		}
	}
	var errs []error
	for name, sc := range want {
		p := m.pools[name]
		switch {
		case p == nil:
			if tgs, ok := m.tsets[name]; ok {
				var err error
				if p, err = newScrapePool(m, sc); err != nil {
					errs = append(errs, err)
					continue
				}
				m.pools[name] = p
				p.sync(tgs)
			}
		case !reflect.DeepEqual(p.cfg, sc):
			if err := p.reload(sc); err != nil {
				errs = append(errs, err)
			}
		}
	}
	m.configs = want
	if len(errs) > 0 {
		return fmt.Errorf("applying scrape configs: %v", errs)
	}
	return nil
}

// Sync hands the manager the full target set, applied by the reloader (at once the first
// time, then at most every reload interval); false if ctx ended first.
func (m *Manager) Sync(ctx context.Context, tsets map[string][]*targetgroup.Group) bool {
	if ctx.Err() != nil {
		return false
	}
	for {
		select {
		case m.pending <- tsets:
			return true
		default:
		}
		select { // replace a set not applied yet
		case <-m.pending:
		default:
		}
	}
}

// sync applies target sets: a job with targets and a config gets a pool, a pool whose job
// has no target set any more stops.
func (m *Manager) sync(tsets map[string][]*targetgroup.Group) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return
	}
	m.tsets = tsets
	for name, p := range m.pools {
		if _, ok := tsets[name]; !ok {
			p.stop()
			delete(m.pools, name)
		}
	}
	for name, tgs := range tsets {
		p := m.pools[name]
		if p == nil {
			sc := m.configs[name]
			if sc == nil {
				m.logger.Error("error reloading target set", "err", "invalid config id:"+name)
				continue
			}
			var err error
			if p, err = newScrapePool(m, sc); err != nil {
				m.logger.Error("error creating new scrape pool", "err", err, "scrape_pool", name)
				continue
			}
			m.pools[name] = p
		}
		p.sync(tgs)
	}
}

// TargetsActive returns the targets being scraped, by job.
func (m *Manager) TargetsActive() map[string][]*promscrape.Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]*promscrape.Target, len(m.pools))
	for name, p := range m.pools {
		ts := make([]*promscrape.Target, 0, len(p.targets))
		for _, t := range p.targets {
			ts = append(ts, t)
		}
		out[name] = ts
	}
	return out
}

// Stop stops every loop (writing no staleness markers: the agent stops, not the targets)
// and returns once they have stopped; it unregisters the manager's metrics.
func (m *Manager) Stop() {
	m.stopOnce.Do(func() {
		m.mu.Lock()
		m.cancel()
		for name, p := range m.pools {
			p.stop()
			delete(m.pools, name)
		}
		m.mu.Unlock()
		<-m.done
		m.m.unregister()
	})
}
