package scrapemgr

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	promscrape "github.com/prometheus/prometheus/scrape"
)

// scrapePool is one job: its targets and their loops. Only the manager calls it, under the
// manager's lock.
type scrapePool struct {
	mgr     *Manager
	cfg     *config.ScrapeConfig
	client  *http.Client
	targets map[uint64]*promscrape.Target
	loops   map[uint64]*loop
	// sockets are the clients of targets scraped over a Unix socket (their __unix_socket__
	// label), by path.
	sockets map[string]*http.Client
}

// clientFor returns the HTTP client for t: the job's, or one that dials t's Unix socket.
func (p *scrapePool) clientFor(t *promscrape.Target) *http.Client {
	path := t.GetValue(promscrape.UnixSocketLabel)
	if path == "" {
		return p.client
	}
	if c := p.sockets[path]; c != nil {
		return c
	}
	c, err := config_util.NewClientFromConfig(p.cfg.HTTPClientConfig, p.cfg.JobName,
		config_util.WithDialContextFunc(func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}))
	if err != nil { // the job's client was built from the same settings
		p.mgr.logger.Error("Unix socket client", "path", path, "err", err)
		return p.client
	}
	if p.sockets == nil {
		p.sockets = map[string]*http.Client{}
	}
	p.sockets[path] = c
	return c
}

func newScrapePool(mgr *Manager, cfg *config.ScrapeConfig) (*scrapePool, error) {
	mgr.m.pools.Inc()
	client, err := config_util.NewClientFromConfig(cfg.HTTPClientConfig, cfg.JobName)
	if err != nil {
		mgr.m.poolsFailed.Inc()
		return nil, fmt.Errorf("job %q: http client: %w", cfg.JobName, err)
	}
	return &scrapePool{mgr: mgr, cfg: cfg, client: client, targets: map[uint64]*promscrape.Target{}, loops: map[uint64]*loop{}}, nil
}

// targetHash identifies a target: its labels, URL and scrape interval and timeout (a
// change of any of them makes a new target, as in Prometheus).
func targetHash(t *promscrape.Target) uint64 {
	h := fnv.New64a()
	lb := labels.NewScratchBuilder(0)
	t.LabelsRange(func(l labels.Label) { lb.Add(l.Name, l.Value) })
	lb.Sort()
	_, _ = h.Write([]byte(strconv.FormatUint(lb.Labels().Hash(), 16)))
	_, _ = h.Write([]byte(t.URL().String()))
	_, _ = h.Write([]byte(t.GetValue(model.ScrapeIntervalLabel) + "/" + t.GetValue(model.ScrapeTimeoutLabel)))
	return h.Sum64()
}

// sync replaces the pool's targets with those of groups: new targets start a loop, gone
// ones stop theirs (their series get staleness markers after two intervals), the others
// go on scraping untouched.
func (p *scrapePool) sync(groups []*targetgroup.Group) {
	lb := labels.NewBuilder(labels.EmptyLabels())
	seen := map[uint64]bool{}
	var started []*loop
	for _, g := range groups {
		ts, failures := promscrape.TargetsFromGroup(g, p.cfg, nil, lb)
		for _, err := range failures {
			p.mgr.logger.Error("Creating target failed", "err", err)
		}
		p.mgr.m.syncFailed.WithLabelValues(p.cfg.JobName).Add(float64(len(failures)))
		for _, t := range ts {
			empty := true
			t.LabelsRange(func(labels.Label) { empty = false })
			if empty { // dropped by relabelling
				continue
			}
			h := targetHash(t)
			if seen[h] {
				continue
			}
			seen[h] = true
			if _, ok := p.targets[h]; ok {
				continue
			}
			l := p.newLoop(t, newSeriesCache())
			p.targets[h], p.loops[h] = t, l
			started = append(started, l)
		}
	}
	var wg sync.WaitGroup
	for h, l := range p.loops {
		if !seen[h] {
			wg.Go(l.stop)
			delete(p.loops, h)
			delete(p.targets, h)
		}
	}
	p.mgr.m.poolTargets.WithLabelValues(p.cfg.JobName).Set(float64(len(p.targets)))
	forced := p.targetLimitErr()
	for _, l := range p.loops {
		l.setForcedError(forced)
	}
	for _, l := range started {
		go l.run()
	}
	wg.Wait()
}

// targetLimitErr fails every scrape of the job while it has more targets than target_limit.
func (p *scrapePool) targetLimitErr() error {
	if p.cfg.TargetLimit == 0 || len(p.targets) <= int(p.cfg.TargetLimit) {
		return nil
	}
	p.mgr.m.targetLimit.Inc()
	return fmt.Errorf("target_limit exceeded (number of targets: %d, limit: %d)", len(p.targets), p.cfg.TargetLimit)
}

// reload restarts every loop with cfg. A loop keeps its target's cache (no staleness
// markers, no new series) when only settings that do not change the samples changed
// (intervals, sample_limit, HTTP client); otherwise the old loop's series get staleness
// markers unless the new one exposes them again.
func (p *scrapePool) reload(cfg *config.ScrapeConfig) error {
	p.mgr.m.reloads.Inc()
	client, err := config_util.NewClientFromConfig(cfg.HTTPClientConfig, cfg.JobName)
	if err != nil {
		p.mgr.m.reloadsFailed.Inc()
		return fmt.Errorf("job %q: http client: %w", cfg.JobName, err)
	}
	reuse := reflect.DeepEqual(sampleSettings(p.cfg), sampleSettings(cfg))
	old, oldSockets := p.client, p.sockets
	p.cfg, p.client, p.sockets = cfg, client, nil
	forced := p.targetLimitErr()
	var wg sync.WaitGroup
	for h, oldLoop := range p.loops {
		cache := newSeriesCache()
		if reuse {
			oldLoop.disabledEndOfRun.Store(true)
			cache = oldLoop.cache
		}
		l := p.newLoop(p.targets[h], cache)
		l.setForcedError(forced)
		p.loops[h] = l
		wg.Go(func() {
			oldLoop.stop()
			go l.run()
		})
	}
	wg.Wait()
	old.CloseIdleConnections()
	for _, c := range oldSockets {
		c.CloseIdleConnections()
	}
	return nil
}

// sampleSettings is cfg without the settings that leave the samples as they are.
func sampleSettings(cfg *config.ScrapeConfig) config.ScrapeConfig {
	z := *cfg
	z.ScrapeInterval, z.ScrapeTimeout, z.SampleLimit = 0, 0, 0
	z.HTTPClientConfig = config_util.HTTPClientConfig{}
	return z
}

// stop stops every loop; the manager's context is cancelled first, so no staleness
// markers are written (the agent stops, the series do not).
func (p *scrapePool) stop() {
	var wg sync.WaitGroup
	for h, l := range p.loops {
		wg.Go(l.stop)
		delete(p.loops, h)
		delete(p.targets, h)
	}
	wg.Wait()
	p.client.CloseIdleConnections()
	for _, c := range p.sockets {
		c.CloseIdleConnections()
	}
	p.mgr.m.poolTargets.DeleteLabelValues(p.cfg.JobName)
	p.mgr.m.syncFailed.DeleteLabelValues(p.cfg.JobName)
}

func (p *scrapePool) newLoop(t *promscrape.Target, cache *seriesCache) *loop {
	cfg, mgr := p.cfg, p.mgr
	interval, timeout, err := intervalAndTimeout(t, cfg)
	t.SetMetadataStore(&cache.meta)
	l := &loop{
		target:     t,
		cfg:        cfg,
		cache:      cache,
		appendable: mgr.o.Appendable,
		buffers:    mgr.buffers,
		logger:     mgr.logger.With("scrape_pool", cfg.JobName, "target", t.URL().Redacted()),
		m:          mgr.m,
		interval:   interval,
		timeout:    timeout,
		parserOptions: textparse.ParserOptions{
			IgnoreNativeHistograms:                  !cfg.ScrapeNativeHistogramsEnabled(),
			ConvertClassicHistogramsToNHCB:          cfg.ConvertClassicHistogramsToNHCBEnabled(),
			KeepClassicOnClassicAndNativeHistograms: cfg.AlwaysScrapeClassicHistogramsEnabled(),
			OpenMetricsSkipSTSeries:                 mgr.o.StartTimestamps,
			FallbackContentType:                     cfg.ScrapeFallbackProtocol.HeaderMediaType(),
		},
		sampleLimit:     int(cfg.SampleLimit),
		bucketLimit:     int(cfg.NativeHistogramBucketLimit),
		maxSchema:       maxSchema(cfg.NativeHistogramMinBucketFactor),
		startTimestamps: mgr.o.StartTimestamps,
		appendMetadata:  true,
		parentCtx:       mgr.ctx,
		stopped:         make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancel(mgr.ctx)
	l.scraper = newScraper(t, p.clientFor(t), cfg, timeout, mgr.m)
	l.offset = offset(targetHash(t), interval, mgr.offsetSeed)
	if err != nil {
		l.setForcedError(err)
	}
	return l
}

// intervalAndTimeout are the target's (its __scrape_interval__ and __scrape_timeout__
// labels, which relabelling may have changed); the job's when they do not parse, with an
// error that fails every scrape.
func intervalAndTimeout(t *promscrape.Target, cfg *config.ScrapeConfig) (time.Duration, time.Duration, error) {
	interval, timeout := time.Duration(cfg.ScrapeInterval), time.Duration(cfg.ScrapeTimeout)
	iv, err := model.ParseDuration(t.GetValue(model.ScrapeIntervalLabel))
	if err != nil {
		return interval, timeout, fmt.Errorf("error parsing interval label %q: %w", t.GetValue(model.ScrapeIntervalLabel), err)
	}
	tv, err := model.ParseDuration(t.GetValue(model.ScrapeTimeoutLabel))
	if err != nil {
		return interval, timeout, fmt.Errorf("error parsing timeout label %q: %w", t.GetValue(model.ScrapeTimeoutLabel), err)
	}
	return time.Duration(iv), time.Duration(tv), nil
}

// offset spreads the targets' scrapes over the interval, each at a fixed phase of it (so a
// restarted agent scrapes at the same times).
func offset(hash uint64, interval time.Duration, seed uint64) time.Duration {
	now := time.Now().UnixNano()
	base := int64(interval) - now%int64(interval)
	next := base + int64((hash^seed)%uint64(interval))
	if next > int64(interval) {
		next -= int64(interval)
	}
	return time.Duration(next)
}

// maxSchema is the highest native histogram schema whose bucket growth factor is at least
// factor (native_histogram_min_bucket_factor); 8, the highest, when unset.
func maxSchema(factor float64) int32 {
	if factor <= 1 {
		return histogram.ExponentialSchemaMax
	}
	// Schema s grows by 2^(2^-s) a bucket.
	s := math.Floor(-math.Log2(math.Log2(factor)))
	return int32(max(min(s, float64(histogram.ExponentialSchemaMax)), float64(histogram.ExponentialSchemaMin)))
}
