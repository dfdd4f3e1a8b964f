package remotewrite

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestMemoryReturnsAfterOutage: samples flow in small batches, the receiver goes down long
// enough for a backlog, comes back, and the backlog is sent in full batches. Once batches
// are small again, the heap returns near what it was before the outage: the shards let go
// of the request buffers the backlog grew (kept for good before: 22 MiB for 4 shards sending
// requests of 5000 samples, on a heap of 9 MiB).
func TestMemoryReturnsAfterOutage(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.CountOnly()
	args := testArgs(t, r.URL)
	args.Endpoint.Queue.BatchSendDeadline = model.Duration(20 * time.Millisecond)
	args.Endpoint.Queue.MaxSamplesPerSend = 5000
	args.Endpoint.Queue.MaxBackoff = model.Duration(100 * time.Millisecond)
	c, err := New(pipeline.Options{
		ID: "prometheus.remote_write/memory", Logger: slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(), DataPath: t.TempDir(),
	}, args)
	require.NoError(t, err)
	const idle = 2 * time.Second
	c.bufferIdle = idle
	stop := pipelinetest.Run(t, c)
	defer stop()
	<-c.Ready()

	// 1000 series, a commit every 20 ms: about 250 samples a request per shard.
	lsets := realisticSeries(1000, 0)
	refs := make([]storage.SeriesRef, len(lsets))
	var halt atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ts := int64(1000); !halt.Load(); ts += 1000 {
			app := c.Appendable().Appender(context.Background())
			for i, ls := range lsets {
				if refs[i], err = app.Append(refs[i], ls, ts, float64(ts)); err != nil {
					t.Error(err)
					return
				}
			}
			if err := app.Commit(); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() { halt.Store(true); <-done }()

	time.Sleep(idle + time.Second) // steady state
	before := pipelinetest.HeapLiveMiB()
	r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	time.Sleep(3 * time.Second) // a backlog of about 150 000 samples
	during := pipelinetest.HeapLiveMiB()
	r.Recover()
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(c.m.forEndpoint(c.currentArgs().endpoints()[0].name()).pendingSamples) < 5000
	}, time.Minute, 10*time.Millisecond, "backlog sent")
	drained := pipelinetest.HeapLiveMiB()
	time.Sleep(idle + time.Second) // small batches again for longer than bufferIdle
	// What the backlog took (9 MiB of live objects here; 22 MiB before requests were
	// encoded without prompb structs) is back but for a quarter at most. Live objects, not
	// the heap's spans in use: the free room inside those varies by up to 3 MiB with how the
	// backlog's allocations were laid out, which is more than a quarter of what it now takes.
	// A shard lets its buffers go once bufferIdle passed without a batch needing half of
	// them; on a loaded machine one late larger batch restarts that clock, so a few periods
	// are allowed.
	var after float64
	require.Eventually(t, func() bool {
		after = pipelinetest.HeapLiveMiB()
		return after-before < (drained-before)/4
	}, 5*idle, 250*time.Millisecond, "the memory the backlog took is given back: %.1f MiB before the outage, %.1f when the backlog was sent, %.1f now",
		before, drained, after)
	t.Logf("live heap: %.1f MiB before the outage, %.1f during, %.1f when the backlog was sent, %.1f after (%d samples received)",
		before, during, drained, after, r.SampleCount())
}
