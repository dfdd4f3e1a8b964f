package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// The hot path with and without the live-data hook:
//   - handle:  the stable handle alone (what a component got before taps existed);
//   - tapped:  through the edge tap, nobody watching (the normal case);
//   - watched: somebody watches, their budget spent (the steady state of a busy edge).

type nopAppendable struct{}

func (nopAppendable) Appender(context.Context) storage.Appender { return errAppender{} }

type nopLogs struct{}

func (nopLogs) ConsumeLogs(_ context.Context, b LogBatch) error { b.Ack(nil); return nil }

const benchBatch = 1000

func benchSeries() []labels.Labels {
	ls := make([]labels.Labels, benchBatch)
	for i := range ls {
		ls[i] = labels.FromStrings("__name__", "bench_metric", "instance", "host:9100", "i", fmt.Sprint(i))
	}
	return ls
}

// benchWatch returns a watcher on id whose budget is spent.
func benchWatch(b *testing.B, t *taps, id string) *Watcher {
	w := &Watcher{id: id, t: t, ch: make(chan LiveItem, 1), limit: 1}
	w.stride.Store(benchBatch / 10)
	t.addWatcher(w)
	b.Cleanup(w.Close)
	return w
}

func BenchmarkMetricsEdge(b *testing.B) {
	series := benchSeries()
	for _, mode := range []string{"handle", "tapped", "watched"} {
		b.Run(mode, func(b *testing.B) {
			h := &metricsHandle{id: "sink"}
			h.set(nopAppendable{})
			var t taps
			var a Appendable = h
			if mode != "handle" {
				a = tappedAppendable{h: h, edge: t.edge(EdgeKey{From: "src", To: "sink", Kind: KindMetrics})}
			}
			if mode == "watched" {
				benchWatch(b, &t, "sink")
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				app := a.Appender(ctx)
				for i, l := range series {
					_, _ = app.Append(0, l, int64(i), float64(i))
				}
				_ = app.Commit()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/sample")
		})
	}
}

func BenchmarkLogsEdge(b *testing.B) {
	entries := make([]LogEntry, 100)
	for i := range entries {
		entries[i] = LogEntry{Labels: model.LabelSet{"job": "bench"}, Timestamp: time.Unix(int64(i), 0), Line: "a log line of a typical length, with a few words in it"}
	}
	for _, mode := range []string{"handle", "tapped", "watched"} {
		b.Run(mode, func(b *testing.B) {
			h := &logsHandle{id: "sink"}
			h.set(nopLogs{})
			var t taps
			var r LogsReceiver = h
			if mode != "handle" {
				r = tappedLogs{next: h, edge: t.edge(EdgeKey{From: "src", To: "sink", Kind: KindLogs})}
			}
			if mode == "watched" {
				benchWatch(b, &t, "sink")
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				_ = r.ConsumeLogs(ctx, LogBatch{Entries: entries, Ack: func(error) {}})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(entries)), "ns/line")
		})
	}
}
