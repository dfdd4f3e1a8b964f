package promrelabel

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// typicalRules are what a node agent usually applies to scraped series: drop noisy
// families, keep only some jobs, copy pod labels, set a constant.
const typicalRules = `
rules:
  - {source_labels: [__name__], regex: "go_gc_.*|go_memstats_.*_bytes_total", action: drop}
  - {source_labels: [job], regex: "node|kubelet|app-.*", action: keep}
  - {action: labelmap, regex: "__meta_pod_label_(.+)"}
  - {action: labeldrop, regex: "__meta_.*"}
  - {source_labels: [instance], regex: "(.*):\\d+", target_label: host}
  - {target_label: cluster, replacement: prod-eu-1}
`

// nopAppendable discards everything, handing out a fixed reference, so the benchmarks
// measure relabelling alone.
type nopAppendable struct{}

func (nopAppendable) Appender(context.Context) storage.Appender { return nopAppender{} }

type nopAppender struct{}

func (nopAppender) Append(storage.SeriesRef, labels.Labels, int64, float64) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) Commit() error                     { return nil }
func (nopAppender) Rollback() error                   { return nil }
func (nopAppender) SetOptions(*storage.AppendOptions) {}
func (nopAppender) AppendExemplar(storage.SeriesRef, labels.Labels, exemplar.Exemplar) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) AppendHistogramSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) UpdateMetadata(storage.SeriesRef, labels.Labels, metadata.Metadata) (storage.SeriesRef, error) {
	return 1, nil
}
func (nopAppender) AppendSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64) (storage.SeriesRef, error) {
	return 1, nil
}

// scrapeSeries returns n series shaped like a scrape of a pod's exporter.
func scrapeSeries(n int) []labels.Labels {
	names := []string{"http_requests_total", "go_gc_duration_seconds", "process_cpu_seconds_total", "node_cpu_seconds_total"}
	out := make([]labels.Labels, n)
	for i := range out {
		out[i] = labels.FromStrings(
			"__name__", names[i%len(names)],
			"job", []string{"node", "app-web", "other"}[i%3],
			"instance", fmt.Sprintf("10.0.%d.%d:9100", i/256%256, i%256),
			"__meta_pod_label_app", "web",
			"__meta_pod_label_team", "sre",
			"cpu", fmt.Sprint(i%16),
			"mode", []string{"user", "system", "idle"}[i%3],
			"series", fmt.Sprint(i),
		)
	}
	return out
}

// BenchmarkAppend measures the prometheus.relabel append path, per sample, for a 1000
// series scrape committed as one batch, with and without the cache.
func BenchmarkAppend(b *testing.B) {
	series := scrapeSeries(1000)
	for _, bc := range []struct {
		name  string
		rules string
		cache int
	}{
		{"no_rules", "rules: []", DefaultMaxCacheSize},
		{"typical/cache", typicalRules, DefaultMaxCacheSize},
		{"typical/no_cache", typicalRules, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			args := decode(b, fmt.Sprintf("forward_to: [x/y]\nmax_cache_size: %d\n%s", bc.cache, bc.rules))
			c, _ := newComponent(b, args, map[string]storage.Appendable{"x/y": nopAppendable{}})
			scrape := func() {
				a := c.Appender(context.Background())
				for i, l := range series {
					if _, err := a.Append(0, l, int64(i), 1); err != nil {
						b.Fatal(err)
					}
				}
				if err := a.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			scrape() // warm the cache, as every scrape after the first finds it
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				scrape()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(series)), "ns/sample")
		})
	}
}

// BenchmarkAppendParallel measures the cached path under concurrent scrapes.
func BenchmarkAppendParallel(b *testing.B) {
	series := scrapeSeries(1000)
	args := decode(b, "forward_to: [x/y]\n"+typicalRules)
	c, _ := newComponent(b, args, map[string]storage.Appendable{"x/y": nopAppendable{}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		a := c.Appender(context.Background())
		for pb.Next() {
			if _, err := a.Append(0, series[i%len(series)], int64(i), 1); err != nil {
				b.Fatal(err)
			}
			i++
			if i%1000 == 0 {
				_ = a.Commit()
				a = c.Appender(context.Background())
			}
		}
		_ = a.Commit()
	})
}
