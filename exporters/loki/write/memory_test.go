package write

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestMemoryReturnsAfterOutage: entries flow in small requests, Loki goes down until the
// queue is full, comes back, and the backlog is sent in requests of batch_size. Once
// requests are small again the heap returns near what it was before the outage: the
// encoder lets go of the buffers the backlog grew (kept for good before: 2.6 MiB an
// endpoint with the default batch_size of 1 MiB, on a heap of 3.4 MiB).
func TestMemoryReturnsAfterOutage(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c, err := New(pipelinetest.Options(t, "loki.write/memory", pipelinetest.NewHost()), validArgs(t, "endpoints:\n"+
		endpointYAML("a", srv.URL+"/loki/api/v1/push", "batch_wait: 10ms\n    min_backoff: 10ms\n    max_backoff: 50ms\n")))
	require.NoError(t, err)
	const idle = 2 * time.Second
	c.endpoints[0].enc.idle = idle
	stop := pipelinetest.Run(t, c)
	defer stop()

	// 50 entries of 200 bytes in 10 streams every 5 ms: requests of about 20 KiB; the
	// default queue (10 MiB) and batch_size (1 MiB).
	var halt atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		line := fmt.Sprintf("%0200d", 0)
		for ts := time.Now(); !halt.Load(); ts = ts.Add(time.Second) {
			entries := make([]pipeline.LogEntry, 50)
			for i := range entries {
				entries[i] = pipeline.LogEntry{Labels: model.LabelSet{"app": model.LabelValue(fmt.Sprint("app-", i%10))}, Timestamp: ts.Add(time.Duration(i)), Line: line}
			}
			if err := c.ConsumeLogs(context.Background(), pipeline.NewLogBatch(entries, nil)); err != nil {
				return // stopping
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() { halt.Store(true); <-done }()

	queued := func() int { n, _, _ := c.endpoints[0].queue.stats(); return n }
	time.Sleep(idle + time.Second) // steady state
	before := pipelinetest.HeapInUseMiB()
	down.Store(true)
	require.Eventually(t, func() bool { return queued() > 40_000 }, time.Minute, 10*time.Millisecond, "the queue fills")
	during := pipelinetest.HeapInUseMiB()
	down.Store(false)
	require.Eventually(t, func() bool { return queued() < 1000 }, time.Minute, 10*time.Millisecond, "backlog sent")
	drained := pipelinetest.HeapInUseMiB()
	time.Sleep(idle + time.Second) // small requests again for longer than the encoder's idle
	after := pipelinetest.HeapInUseMiB()
	t.Logf("heap in use: %.1f MiB before the outage, %.1f with the queue full, %.1f when the backlog was sent, %.1f after",
		before, during, drained, after)
	require.Less(t, after, before+1, "the memory the backlog took is given back")
}
