package remotewrite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

// realisticSeries looks like kubelet cAdvisor series: 8 labels, ~190 bytes.
func realisticSeries(n, offset int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := range out {
		k := i + offset
		out[i] = labels.FromStrings(
			"__name__", "container_cpu_usage_seconds_total",
			"container", fmt.Sprintf("app-%d", k%50),
			"cpu", "total",
			"instance", "10.0.0.1:10250",
			"job", "kubelet",
			"namespace", fmt.Sprintf("team-%d", k%20),
			"node", "node-a",
			"pod", fmt.Sprintf("app-%d-7f9c8d6b5-%05d", k%50, k),
		)
	}
	return out
}

func benchWAL(b testing.TB) *walStorage {
	m, err := newMetrics(nil)
	require.NoError(b, err)
	w, err := openWAL(b.TempDir(), segmentSize(1<<30), slog.New(slog.DiscardHandler), m)
	require.NoError(b, err)
	b.Cleanup(func() { w.closeAppends(); _ = w.close() })
	return w
}

// BenchmarkAppendCommit measures one scrape's worth of work: 1000 series appended and
// committed to the WAL. "cached" passes the refs returned before, as the scrape loop does.
func BenchmarkAppendCommit(b *testing.B) {
	for _, cached := range []bool{true, false} {
		b.Run(fmt.Sprintf("series=1000/cached_refs=%v", cached), func(b *testing.B) {
			w := benchWAL(b)
			lsets := realisticSeries(1000, 0)
			refs := make([]storage.SeriesRef, len(lsets))
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				app := newAppender(w)
				ts := int64(n+1) * 15000
				for i, ls := range lsets {
					ref := storage.SeriesRef(0)
					if cached {
						ref = refs[i]
					}
					r, err := app.Append(ref, ls, ts, float64(n))
					if err != nil {
						b.Fatal(err)
					}
					refs[i] = r
				}
				if err := app.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lsets)), "ns/sample")
		})
	}
}

// BenchmarkEncodeSend measures building, compressing and posting one batch of 2000 samples
// to a sink that reads and discards the body.
func BenchmarkEncodeSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	args := testArgs(b, srv.URL+"/api/v1/write")
	args.ExternalLabels = map[string]string{"cluster": "prod"}
	w := benchWAL(b)
	s, err := newSender(senderOptions{logger: slog.New(slog.DiscardHandler), m: w.m.forEndpoint("bench"), w: w, cfg: args.Endpoint, ext: args.ExternalLabels})
	require.NoError(b, err)
	sh := s.shards[0]
	rec := &recEntry{}
	for i, ls := range realisticSeries(2000, 0) {
		ms, _ := w.table.getOrCreate(ls, 0)
		sh.batch = append(sh.batch, queuedSample{s: ms, t: 1700000000000 + int64(i), v: float64(i), rec: rec})
	}
	batch := append([]queuedSample(nil), sh.batch...)

	for _, p := range []protocol{protoV1, protoV2} {
		b.Run("encode/"+p.message(), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for n := 0; n < b.N; n++ {
				size = len(sh.encode(sh.batch, p))
			}
			b.ReportMetric(float64(size), "bytes/request")
			b.ReportMetric(float64(size)/float64(len(sh.batch)), "bytes/sample")
		})
	}
	b.Run("encode+send", func(b *testing.B) {
		b.ReportAllocs()
		for n := 0; n < b.N; n++ {
			body := sh.encode(sh.batch, protoV1)
			if res := s.clients[protoV1].Post(context.Background(), body); res.Err != nil {
				b.Fatal(res.Err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/sample")
	})
}

// BenchmarkMemoryPerSeries reports the heap held per active series after appending 100k
// series (labels included: the component keeps the caller's labels, it does not copy them).
func BenchmarkMemoryPerSeries(b *testing.B) {
	const total = 100_000
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		lsets := realisticSeries(total, 0)
		var labelBytes uint64
		for _, ls := range lsets {
			labelBytes += ls.ByteSize()
		}
		w := benchWAL(b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for i := 0; i < total; i += 1000 {
			app := newAppender(w)
			for _, ls := range lsets[i : i+1000] {
				if _, err := app.Append(0, ls, 1000, 1); err != nil {
					b.Fatal(err)
				}
			}
			if err := app.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		lsets = nil // from here on only the component holds the labels
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSeries := float64(after.HeapAlloc-before.HeapAlloc+labelBytes) / total
		b.ReportMetric(perSeries, "B/series")
		b.ReportMetric(perSeries-float64(labelBytes)/total, "B/series-excl-labels")
		runtime.KeepAlive(w)
	}
}
