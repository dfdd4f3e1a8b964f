package remotewrite

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// instance is a component under test, running in its own goroutine.
type instance struct {
	c      *Component
	reg    *prometheus.Registry
	dir    string
	logs   *pipelinetest.LogBuffer
	health *pipeline.Health
	cancel context.CancelFunc
	done   chan error
}

// testArgs returns arguments for a receiver URL with fast batching and backoff.
func testArgs(t testing.TB, rawURL string) *Arguments {
	a := DefaultArguments()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	a.Endpoint.URL = config.URL{URL: u}
	a.Endpoint.Queue.BatchSendDeadline = model.Duration(5 * time.Millisecond)
	a.Endpoint.Queue.MinBackoff = model.Duration(5 * time.Millisecond)
	a.Endpoint.Queue.MaxBackoff = model.Duration(20 * time.Millisecond)
	a.Endpoint.RemoteTimeout = model.Duration(5 * time.Second)
	return a
}

// start runs a component on dir; sleep, when set, replaces the retry wait.
func start(t testing.TB, dir string, args *Arguments, sleep func(context.Context, time.Duration) error) *instance {
	t.Helper()
	return startWith(t, dir, args, func(c *Component) {
		if sleep != nil {
			c.sleep = sleep
		}
	})
}

// startWith runs a component on dir after opt has set its test knobs.
func startWith(t testing.TB, dir string, args *Arguments, opt func(*Component)) *instance {
	t.Helper()
	logs := &pipelinetest.LogBuffer{}
	in := &instance{dir: dir, logs: logs, health: pipeline.NewHealth(), done: make(chan error, 1), reg: prometheus.NewRegistry()}
	c, err := New(pipeline.Options{
		ID:         "prometheus.remote_write/test",
		Logger:     logs.Logger(slog.LevelDebug),
		Registerer: in.reg,
		DataPath:   dir,
		Health:     in.health,
	}, args)
	require.NoError(t, err)
	opt(c)
	in.c = c
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- c.Run(ctx) }()
	require.Eventually(t, func() bool { return c.wal.Load() != nil }, 10*time.Second, time.Millisecond, "WAL not opened")
	t.Cleanup(func() { in.stop(t) })
	return in
}

// stop cancels the component and waits for Run to return (idempotent).
func (in *instance) stop(t testing.TB) {
	t.Helper()
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	select {
	case err := <-in.done:
		require.NoError(t, err)
	case <-time.After(2 * time.Minute):
		t.Fatal("Run did not return")
	}
}

// appendSamples commits, for each step, one sample per series: series i is
// test_metric{series="i"}, step k has timestamp base+k*1000.
func (in *instance) appendSamples(t testing.TB, series, steps int, base int64) {
	t.Helper()
	lsets := testSeries(series)
	for k := 0; k < steps; k++ {
		app := in.c.Appendable().Appender(context.Background())
		for i, ls := range lsets {
			_, err := app.Append(0, ls, base+int64(k)*1000, float64(i*steps+k))
			require.NoError(t, err)
		}
		require.NoError(t, app.Commit())
	}
}

func testSeries(n int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := range out {
		out[i] = labels.FromStrings("__name__", "test_metric", "series", fmt.Sprint(i), "job", "test")
	}
	return out
}

// appendRandom commits n samples over the series with incompressible values.
func (in *instance) appendRandom(t testing.TB, series, steps int, base int64) {
	t.Helper()
	lsets := testSeries(series)
	for k := 0; k < steps; k++ {
		app := in.c.Appendable().Appender(context.Background())
		for _, ls := range lsets {
			_, err := app.Append(0, ls, base+int64(k)*1000, rand.Float64())
			require.NoError(t, err)
		}
		require.NoError(t, app.Commit())
	}
}

// dropped returns the samples dropped for reason, by the WAL and every endpoint.
func (in *instance) dropped(reason string) float64 {
	n := testutil.ToFloat64(in.c.m.walDropped(reason))
	for _, ep := range in.c.currentArgs().endpoints() {
		n += testutil.ToFloat64(in.em(ep.name()).samplesDropped.WithLabelValues(reason))
	}
	return n
}

// em returns the metrics of the endpoint called name, by default the first one's.
func (in *instance) em(name ...string) *endpointMetrics {
	if len(name) == 0 {
		name = append(name, in.c.currentArgs().endpoints()[0].name())
	}
	return in.c.m.forEndpoint(name[0])
}

// waitSamples waits until the receiver has accepted n samples.
func waitSamples(t testing.TB, r *remotewritetest.Receiver, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return r.SampleCount() >= n }, 30*time.Second, 2*time.Millisecond,
		"receiver has %d samples, want %d", r.SampleCount(), n)
}

// requireExactly checks the receiver holds every series 0..series-1 with the given number
// of samples each, no duplicates and no spec violation.
func requireExactly(t testing.TB, r *remotewritetest.Receiver, series, steps int, extra ...string) {
	t.Helper()
	require.Empty(t, r.Problems())
	require.Equal(t, series*steps, r.SampleCount())
	require.Zero(t, r.Duplicates())
	got := r.Series()
	require.Len(t, got, series)
	for _, ls := range testSeries(series) {
		b := labels.NewBuilder(ls)
		for i := 0; i+1 < len(extra); i += 2 {
			b.Set(extra[i], extra[i+1])
		}
		require.Len(t, got[b.Labels().String()], steps, "series %s", ls)
	}
}

// waitMarkerCovers waits until every endpoint's persisted marker says nothing in the WAL is
// unsent to it.
func waitMarkerCovers(t testing.TB, in *instance) {
	t.Helper()
	w := in.c.wal.Load()
	eps := in.c.currentArgs().endpoints()
	for _, ep := range eps {
		require.Eventually(t, func() bool {
			m, err := readMarker(filepath.Join(in.dir, markerBase(ep.name(), len(eps))))
			if err != nil {
				return false
			}
			n, err := countUnsent(w.dir, m, w.currentSegment()+1)
			return err == nil && n == 0
		}, 30*time.Second, 5*time.Millisecond, "endpoint %s", ep.name())
	}
}

// copyDir copies a directory tree, as a crash would leave it.
func copyDir(t testing.TB, from, to string) {
	t.Helper()
	require.NoError(t, filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if strings.HasSuffix(path, ".tmp") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	}))
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
