package scrapemgr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/timestamp"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/pool"
)

// loop scrapes one target every interval and appends what it exposes, as Prometheus'
// scrape loop does (same samples, report series, staleness markers and limits).
type loop struct {
	target     *promscrape.Target
	cfg        *config.ScrapeConfig
	scraper    *scraper
	cache      *seriesCache
	appendable storage.Appendable
	buffers    *pool.Pool
	logger     *slog.Logger
	m          *metrics

	interval, timeout               time.Duration
	offset                          time.Duration
	parserOptions                   textparse.ParserOptions
	sampleLimit, bucketLimit        int
	maxSchema                       int32
	startTimestamps, appendMetadata bool
	exemplars                       []exemplar.Exemplar
	lastScrapeSize                  int
	forcedErr                       atomic.Pointer[error]
	disabledEndOfRun                atomic.Bool
	parentCtx, ctx                  context.Context
	cancel                          context.CancelFunc
	stopped                         chan struct{}
	stopOnce                        sync.Once
}

// run scrapes until stop; then, unless the manager is stopping or the target lives on in a
// new loop with this one's cache, it writes staleness markers for the target's series
// after two intervals (the target may come back in between).
func (l *loop) run() {
	var last time.Time
	ticker := time.NewTicker(l.interval)
	defer func() {
		close(l.stopped)
		if l.parentCtx.Err() == nil && !l.disabledEndOfRun.Load() {
			l.endOfRunStaleness(last, ticker)
		}
		ticker.Stop()
	}()
	if l.offset > 0 {
		select {
		case <-time.After(l.offset):
		case <-l.ctx.Done():
			return
		}
	}
	ticker.Reset(l.interval)
	aligned := time.Now().Round(0)
	for {
		select {
		case <-l.ctx.Done():
			return
		default:
		}
		// As Prometheus (AlignScrapeTimestamps): scrape times within 1% of the interval
		// (at most 2ms) of the schedule are aligned to it, which compresses better.
		now := time.Now().Round(0)
		for now.Sub(aligned) >= l.interval {
			aligned = aligned.Add(l.interval)
		}
		if now.Sub(aligned) <= min(l.interval/100, promscrape.ScrapeTimestampTolerance) {
			now = aligned
		}
		last = l.scrapeAndReport(now)
		select {
		case <-l.ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// stop ends run and returns once it stopped scraping (staleness markers may follow).
func (l *loop) stop() {
	l.stopOnce.Do(l.cancel)
	<-l.stopped
}

func (l *loop) setForcedError(err error) { l.forcedErr.Store(&err) }

func (l *loop) forced() error {
	if p := l.forcedErr.Load(); p != nil {
		return *p
	}
	return nil
}

// scrapeAndReport scrapes once and appends the samples and the report series in one
// commit; a failed append is rolled back and replaced by staleness markers.
func (l *loop) scrapeAndReport(appendTime time.Time) time.Time {
	start := time.Now()
	var (
		res                    appendResult
		err, appErr, scrapeErr error
		stopping               bool
	)
	app := l.appendable.Appender(l.parentCtx)
	defer func() {
		if err != nil || stopping {
			_ = app.Rollback()
			return
		}
		if err = app.Commit(); err != nil {
			l.logger.Error("Scrape commit failed", "err", err)
		}
	}()
	defer func() {
		if stopping {
			return
		}
		if err = l.report(app, appendTime, time.Since(start), res, scrapeErr); err != nil {
			l.logger.Warn("Appending scrape report failed", "err", err)
		}
	}()

	if forced := l.forced(); forced != nil {
		scrapeErr = forced
		if _, err := l.appendBody(app, nil, "", appendTime); err != nil {
			_ = app.Rollback()
			app = l.appendable.Appender(l.parentCtx)
			l.logger.Warn("Append failed", "err", err)
		}
		return start
	}

	var b []byte
	var contentType string
	ctx, cancel := context.WithTimeout(l.parentCtx, l.timeout)
	buf := l.buffers.Get(l.lastScrapeSize + bytes.MinRead).([]byte)
	defer l.buffers.Put(buf)
	w := bytes.NewBuffer(buf)
	contentType, scrapeErr = l.scraper.scrape(ctx, w)
	cancel()
	if l.parentCtx.Err() != nil {
		// The manager stops (the agent, or a changed forward_to): the scrape was cut short,
		// not failed, and the target's series are not stale. Nothing is appended.
		stopping = true
		return start
	}
	if scrapeErr == nil {
		b = w.Bytes()
		if len(b) > 0 {
			l.lastScrapeSize = len(b)
		}
	} else {
		l.logger.Debug("Scrape failed", "err", scrapeErr)
	}

	// A failed scrape is an empty one: its series get staleness markers.
	res, appErr = l.appendBody(app, b, contentType, appendTime)
	if appErr != nil {
		_ = app.Rollback()
		app = l.appendable.Appender(l.parentCtx)
		l.logger.Debug("Append failed", "err", appErr)
		if _, err := l.appendBody(app, nil, "", appendTime); err != nil {
			_ = app.Rollback()
			app = l.appendable.Appender(l.parentCtx)
			l.logger.Warn("Append failed", "err", err)
		}
	}
	if scrapeErr == nil {
		scrapeErr = appErr
	}
	return start
}

// endOfRunStaleness writes staleness markers for the target's series once the loop has
// stopped: at the time of the next scrape, after two more intervals and 10% (a new loop
// for the same target has appended newer samples by then, and the markers are refused as
// out of order).
func (l *loop) endOfRunStaleness(last time.Time, ticker *time.Ticker) {
	if last.IsZero() {
		return
	}
	var staleTime time.Time
	for i, wait := range []<-chan time.Time{ticker.C, ticker.C, time.After(l.interval / 10)} {
		select {
		case <-l.parentCtx.Done():
			return
		case now := <-wait:
			if i == 0 {
				staleTime = now
			}
		}
	}
	if l.disabledEndOfRun.Load() {
		return
	}
	app := l.appendable.Appender(l.parentCtx)
	if _, err := l.appendBody(app, nil, "", staleTime); err != nil {
		_ = app.Rollback()
		app = l.appendable.Appender(l.parentCtx)
		l.logger.Warn("Stale append failed", "err", err)
	}
	if err := l.reportStale(app, staleTime); err != nil {
		l.logger.Warn("Stale report failed", "err", err)
		_ = app.Rollback()
		return
	}
	if err := app.Commit(); err != nil {
		l.logger.Warn("Stale commit failed", "err", err)
	}
}

// reportSeries are the series every scrape reports, named as Prometheus names them; the
// cache keys end in \xff, which no exposed series can.
var reportSeriesNames = [...]struct {
	name, key string
	meta      metadata.Metadata
}{
	{"up", "up\xff", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Health of the scrape target. 1 means the target is healthy, 0 if the scrape failed.", Unit: "targets"}},
	{"scrape_duration_seconds", "scrape_duration_seconds\xff", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Duration of the last scrape in seconds.", Unit: "seconds"}},
	{"scrape_samples_scraped", "scrape_samples_scraped\xff", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Number of samples last scraped.", Unit: "samples"}},
	{"scrape_samples_post_metric_relabeling", "scrape_samples_post_metric_relabeling\xff", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Number of samples remaining after metric relabeling was applied.", Unit: "samples"}},
	{"scrape_series_added", "scrape_series_added\xff", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Number of series in the last scrape.", Unit: "series"}},
}

const reportSeries = len(reportSeriesNames)

func isReport(key string) bool { return len(key) > 0 && key[len(key)-1] == '\xff' }

// report records the scrape's outcome on the target and appends the report series.
func (l *loop) report(app storage.Appender, start time.Time, d time.Duration, res appendResult, scrapeErr error) error {
	l.target.Report(start, d, scrapeErr)
	health := 0.0
	if scrapeErr == nil {
		health = 1
	}
	values := [reportSeries]float64{health, d.Seconds(), float64(res.total), float64(res.added), float64(res.seriesAdded)}
	return l.appendReport(app, timestamp.FromTime(start), values, false)
}

// reportStale appends staleness markers for the report series.
func (l *loop) reportStale(app storage.Appender, t time.Time) error {
	var values [reportSeries]float64
	for i := range values {
		values[i] = staleNaN
	}
	return l.appendReport(app, timestamp.FromTime(t), values, true)
}

func (l *loop) appendReport(app storage.Appender, t int64, values [reportSeries]float64, rejectOOO bool) error {
	for i, s := range reportSeriesNames {
		e := l.cache.report(s.key)
		var ref storage.SeriesRef
		var lset labels.Labels
		if e != nil {
			ref, lset = e.ref, e.lset
		} else {
			b := labels.NewBuilder(labels.EmptyLabels())
			l.target.LabelsRange(func(t labels.Label) { b.Set(t.Name, t.Value) })
			b.Set(model.MetricNameLabel, s.name)
			lset = b.Labels()
		}
		if rejectOOO {
			app.SetOptions(&rejectEarlyOOO)
		}
		ref, err := app.Append(ref, lset, t, values[i])
		if rejectOOO {
			app.SetOptions(nil)
		}
		switch {
		case err == nil:
			if e == nil {
				l.cache.addReport(s.key, lset, ref)
				if l.appendMetadata {
					if _, mErr := app.UpdateMetadata(ref, lset, s.meta); mErr != nil {
						l.logger.Debug("Error when appending metadata in addReportSample", "metadata", s.meta, "err", mErr)
					}
				}
			} else if ref != 0 {
				e.ref = ref
			}
		case errors.Is(err, storage.ErrOutOfOrderSample), errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		default:
			return err
		}
	}
	return nil
}

// mutateSampleLabels adds the target's labels to an exposed series (honor_labels decides
// who wins a clash; without it the exposed value moves to exported_<name>) and applies
// metric_relabel_configs. Empty labels: the series is dropped.
func (l *loop) mutateSampleLabels(lset labels.Labels) labels.Labels {
	lb := labels.NewBuilder(lset)
	if l.cfg.HonorLabels {
		l.target.LabelsRange(func(t labels.Label) {
			if !lset.Has(t.Name) {
				lb.Set(t.Name, t.Value)
			}
		})
	} else {
		var clashes []labels.Label
		l.target.LabelsRange(func(t labels.Label) {
			if v := lset.Get(t.Name); v != "" {
				clashes = append(clashes, labels.Label{Name: t.Name, Value: v})
			}
			lb.Set(t.Name, t.Value)
		})
		// Shorter names first, each to the first exported_… name that is free.
		slices.SortStableFunc(clashes, func(a, b labels.Label) int { return len(a.Name) - len(b.Name) })
		for _, c := range clashes {
			name := c.Name
			for {
				name = model.ExportedLabelPrefix + name
				if lb.Get(name) == "" {
					lb.Set(name, c.Value)
					break
				}
			}
		}
	}
	if !relabel.ProcessBuilder(lb, l.cfg.MetricRelabelConfigs...) {
		return labels.EmptyLabels()
	}
	return lb.Labels()
}
