package gpu

import (
	"context"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// soakRunner is a component whose collection steps the test drives itself, without
// waiting for collect_interval.
func soakRunner(t testing.TB, lib nvml.Library, socket string) (*Component, *runner, config) {
	t.Helper()
	opts := pipelinetest.Options(t, Type+"/soak", pipelinetest.NewHost())
	c, err := newComponent(opts, testArgs(socket), func(string) nvml.Library { return lib })
	require.NoError(t, err)
	c.running.Store(true)
	r := &runner{c: c}
	t.Cleanup(r.close)
	return c, r, c.config()
}

func scrapeOnce(t testing.TB, c *Component) int {
	t.Helper()
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	return rec.Body.Len()
}

func heapAndGoroutines() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}

// TestSoak runs 10 000 collections against the fake node (NVML pass with MIG, GPM and
// XID events, pod-resources over gRPC, exposition build, snapshot swap, a scrape every
// ten) and checks that the heap and the goroutine count stay flat.
func TestSoak(t *testing.T) {
	const passes, warmup = 10_000, 1_000
	k := startKubelet(t, fakePods())
	lib := fakeNode()
	c, r, cfg := soakRunner(t, lib, k.socket)
	ctx := context.Background()

	var heap0 uint64
	var gor0, size int
	for i := range passes {
		if i%100 == 0 {
			lib.Emit(nvml.Event{UUID: uuid2, XID: 31, GPUInstanceID: -1, ComputeInstanceID: -1})
		}
		r.step(ctx, cfg)
		if i%10 == 0 {
			size = scrapeOnce(t, c)
		}
		if i == warmup-1 {
			heap0, gor0 = heapAndGoroutines()
		}
	}
	heap1, gor1 := heapAndGoroutines()
	growth := int64(heap1) - int64(heap0)
	t.Logf("after %d passes: heap %d -> %d bytes (%+d), goroutines %d -> %d, exposition %d bytes, %v series",
		passes, heap0, heap1, growth, gor0, gor1, size, pipelinetest.MetricValue(t, c.opts.Registerer.(prometheus.Gatherer), "sonde_gpu_series"))
	require.Less(t, growth, int64(256<<10), "heap grows over %d passes", passes-warmup)
	require.Equal(t, gor0, gor1, "goroutines")
	reg := c.opts.Registerer.(prometheus.Gatherer)
	require.Equal(t, float64(passes/100), pipelinetest.MetricValue(t, reg, "sonde_gpu_xid_errors_total", "gpu", "2", "xid", "31"))
	require.Equal(t, float64(passes), pipelinetest.MetricValue(t, reg, "sonde_gpu_collections_total"))
}

// BenchmarkCollect is one collection step: NVML pass on the fake node (3 GPUs, 3 MIG
// instances), pod-resources over gRPC, exposition build.
func BenchmarkCollect(b *testing.B) {
	k := startKubelet(b, fakePods())
	_, r, cfg := soakRunner(b, fakeNode(), k.socket)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.step(ctx, cfg)
	}
}

// BenchmarkCollectNoAttribution is a collection step without pod-resources.
func BenchmarkCollectNoAttribution(b *testing.B) {
	_, r, cfg := soakRunner(b, fakeNode(), "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.step(ctx, cfg)
	}
}

// BenchmarkScrape serves the cached exposition (text format).
func BenchmarkScrape(b *testing.B) {
	k := startKubelet(b, fakePods())
	c, r, cfg := soakRunner(b, fakeNode(), k.socket)
	r.step(context.Background(), cfg)
	r.step(context.Background(), cfg)
	b.ReportAllocs()
	for b.Loop() {
		scrapeOnce(b, c)
	}
}
