package scrapemgr

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

// nopAppender takes everything and keeps nothing, so that the benchmark measures the loop.
type nopAppender struct{ refs map[string]storage.SeriesRef }

func (a *nopAppender) Append(ref storage.SeriesRef, l labels.Labels, _ int64, _ float64) (storage.SeriesRef, error) {
	if ref == 0 {
		ref = storage.SeriesRef(len(a.refs) + 1)
		a.refs[l.String()] = ref
	}
	return ref, nil
}
func (a *nopAppender) AppendHistogram(ref storage.SeriesRef, _ labels.Labels, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return ref, nil
}
func (a *nopAppender) AppendHistogramSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return ref, nil
}
func (a *nopAppender) AppendExemplar(ref storage.SeriesRef, _ labels.Labels, _ exemplar.Exemplar) (storage.SeriesRef, error) {
	return ref, nil
}
func (a *nopAppender) UpdateMetadata(ref storage.SeriesRef, _ labels.Labels, _ metadata.Metadata) (storage.SeriesRef, error) {
	return ref, nil
}
func (a *nopAppender) AppendSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref, nil
}
func (a *nopAppender) SetOptions(*storage.AppendOptions) {}
func (a *nopAppender) Commit() error                     { return nil }
func (a *nopAppender) Rollback() error                   { return nil }

// benchLoop is a loop for one target of cfg, outside any manager.
func benchLoop(tb testing.TB, cfg *config.ScrapeConfig) *loop {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	t := promscrape.NewTarget(labels.FromStrings("job", cfg.JobName, "instance", "127.0.0.1:9100", model.AddressLabel, "127.0.0.1:9100"), cfg, nil, nil)
	l := &loop{target: t, cfg: cfg, cache: newSeriesCache(), logger: slog.New(slog.DiscardHandler), m: m, appendMetadata: true, parentCtx: context.Background()}
	l.parserOptions.IgnoreNativeHistograms = true
	return l
}

// exposition is a target's body as the benchmark's loadgen serves it: one counter family
// of n series.
func exposition(n int) []byte {
	var b strings.Builder
	b.WriteString("# HELP loadgen_counter_total A counter.\n# TYPE loadgen_counter_total counter\n")
	for i := range n {
		fmt.Fprintf(&b, "loadgen_counter_total{series=\"%d\",pod=\"pod-%d\",path=\"/api/v1/items\"} %d\n", i, i%7, i*13)
	}
	return []byte(b.String())
}

// BenchmarkAppendBody is the scrape loop's part of a scrape: parse, find each series in
// the target's cache, append (to an appender that does nothing), staleness. ns/sample and
// allocs/sample are per exposed series.
func BenchmarkAppendBody(b *testing.B) {
	const n = 1000
	cfg := &config.ScrapeConfig{JobName: "bench", MetricNameValidationScheme: model.UTF8Validation}
	l := benchLoop(b, cfg)
	body := exposition(n)
	app := &nopAppender{refs: map[string]storage.SeriesRef{}}
	ts := time.Now().Add(-24 * time.Hour) // samples in the past: one per second of it
	if _, err := l.appendBody(app, body, "text/plain; version=0.0.4", ts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.appendBody(app, body, "text/plain; version=0.0.4", ts.Add(time.Duration(i+1)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
}

// BenchmarkAppendBodyTargets is BenchmarkAppendBody over many targets, scraped in turn,
// so that the series state does not stay in the CPU caches between two scrapes of a
// target (as on a node with 100k series).
func BenchmarkAppendBodyTargets(b *testing.B) {
	const n, targets = 1000, 100
	cfg := &config.ScrapeConfig{JobName: "bench", MetricNameValidationScheme: model.UTF8Validation}
	loops := make([]*loop, targets)
	bodies := make([][]byte, targets)
	app := &nopAppender{refs: map[string]storage.SeriesRef{}}
	ts := time.Now().Add(-24 * time.Hour)
	for i := range loops {
		loops[i] = benchLoop(b, cfg)
		bodies[i] = []byte(strings.ReplaceAll(string(exposition(n)), "pod-", fmt.Sprintf("pod-%d-", i)))
		if _, err := loops[i].appendBody(app, bodies[i], "text/plain; version=0.0.4", ts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l := loops[i%targets]
		if _, err := l.appendBody(app, bodies[i%targets], "text/plain; version=0.0.4", ts.Add(time.Duration(i/targets+1)*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
}
