package remotewrite

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline"
)

func TestSendFollowsSpec(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	args := testArgs(t, r.URL)
	args.Endpoint.Headers = map[string]string{"X-Scope-OrgID": "team-a"}
	args.ExternalLabels = map[string]string{"cluster": "c1", "job": "ignored-series-wins"}
	in := start(t, t.TempDir(), args, nil)

	in.appendSamples(t, 100, 5, 1000)
	waitSamples(t, r, 500)
	requireExactly(t, r, 100, 5, "cluster", "c1")

	for _, req := range r.Requests() {
		require.Equal(t, "team-a", req.Header.Get("X-Scope-OrgID"))
		require.True(t, strings.HasPrefix(req.Header.Get("User-Agent"), "sonde/"), req.Header.Get("User-Agent"))
	}
	require.Equal(t, 500.0, testutil.ToFloat64(in.c.m.samplesAppended))
	// The receiver counts before the component reads the answer.
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em().samplesSent) == 500 }, 10*time.Second, time.Millisecond)
	require.Equal(t, 5.0, testutil.ToFloat64(in.em().highestSent))
	require.Equal(t, 0.0, testutil.ToFloat64(in.em().pendingSamples))
	require.Equal(t, pipeline.HealthHealthy, in.health.Get().State)
}

func TestNonRetryable4xxIsDroppedNotRetried(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.Script(remotewritetest.Response{Status: http.StatusBadRequest, Body: "invalid label name"})
	args := testArgs(t, r.URL)
	args.Endpoint.Queue.Shards = 1
	in := start(t, t.TempDir(), args, nil)

	in.appendSamples(t, 10, 1, 1000)
	require.Eventually(t, func() bool {
		return in.dropped(reasonHTTP4xx) == 10 && in.health.Get().State == pipeline.HealthUnhealthy
	}, 10*time.Second, time.Millisecond)
	require.Len(t, r.Requests(), 1, "a 400 must not be retried")
	require.Contains(t, in.logs.String(), "receiver rejected samples")
	require.Contains(t, in.logs.String(), "status=400")

	// The marker moved past the dropped batch: later samples flow, the dropped ones never come.
	in.appendSamples(t, 10, 1, 2000)
	waitSamples(t, r, 10)
	require.Equal(t, 10, r.SampleCount())
	require.Eventually(t, func() bool { return in.health.Get().State == pipeline.HealthHealthy }, 10*time.Second, time.Millisecond)
}

// TestRejectedSamplesDoNotTakeTheBatchDown: after a crash sonde re-sends up to a second of
// samples the receiver already has; a Prometheus rejects the whole request for them (400 out
// of order). The batch is split so that only those samples are dropped.
func TestRejectedSamplesDoNotTakeTheBatchDown(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.RejectLikePrometheus()
	args := testArgs(t, r.URL)
	args.Endpoint.Queue.Shards = 1
	args.Endpoint.Queue.BatchSendDeadline = model.Duration(time.Second)

	// Another sender delivered series 0..3 up to t=3000 already.
	first := start(t, t.TempDir(), args, nil)
	first.appendSamples(t, 4, 4, 0)
	waitSamples(t, r, 16)

	// This one sends t=0..7000 for series 0..3 in one batch: 0..3000 are old news.
	in := start(t, t.TempDir(), args, nil)
	in.appendSamples(t, 4, 8, 0)
	waitSamples(t, r, 32)
	require.Eventually(t, func() bool { return in.dropped(reasonHTTP4xx) > 0 }, 10*time.Second, time.Millisecond)
	require.Empty(t, r.Problems())
	for _, samples := range r.Series() {
		require.Len(t, samples, 8, "every new sample of every series arrived")
	}
	require.LessOrEqual(t, in.dropped(reasonHTTP4xx), 16.0, "only the old samples were dropped")
}

// sleepRecorder replaces the retry wait: it records each delay and waits only briefly.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return sleepCtx(ctx, time.Millisecond)
}

func (s *sleepRecorder) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

func TestRetry5xxWithGrowingBackoff(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	for range 5 {
		r.Script(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	}
	args := testArgs(t, r.URL)
	args.Endpoint.Queue.Shards = 1
	minB := 10 * time.Millisecond
	args.Endpoint.Queue.MinBackoff, args.Endpoint.Queue.MaxBackoff = 10_000_000, 10_000_000_000 // 10ms, 10s
	rec := &sleepRecorder{}
	in := start(t, t.TempDir(), args, rec.sleep)

	in.appendSamples(t, 20, 1, 1000)
	waitSamples(t, r, 20)
	requireExactly(t, r, 20, 1)
	require.Len(t, r.Requests(), 6)

	delays := rec.get()
	require.Len(t, delays, 5)
	for k, d := range delays {
		lo, hi := minB<<k/2, minB<<k
		require.GreaterOrEqual(t, d, max(lo, minB), "retry %d", k)
		require.LessOrEqual(t, d, hi, "retry %d", k)
		if k > 0 {
			require.GreaterOrEqual(t, d, delays[k-1], "backoff must grow")
		}
	}
	require.Equal(t, 100.0, testutil.ToFloat64(in.em().samplesRetried))
	require.Equal(t, 100.0, testutil.ToFloat64(in.em().samplesFailed))
	require.Equal(t, 5.0, testutil.ToFloat64(in.em().requests.WithLabelValues("503")))
	require.Positive(t, testutil.ToFloat64(in.em().lastSendError))
}

func TestRetry429HonoursRetryAfter(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.Script(
		remotewritetest.Response{Status: http.StatusTooManyRequests, RetryAfter: "7"},
		remotewritetest.Response{Status: http.StatusTooManyRequests},
	)
	args := testArgs(t, r.URL)
	args.Endpoint.Queue.Shards = 1
	rec := &sleepRecorder{}
	in := start(t, t.TempDir(), args, rec.sleep)

	in.appendSamples(t, 5, 1, 1000)
	waitSamples(t, r, 5)
	requireExactly(t, r, 5, 1)
	delays := rec.get()
	require.Len(t, delays, 2)
	require.Equal(t, 7*time.Second, delays[0], "Retry-After in seconds")
	require.LessOrEqual(t, delays[1], time.Duration(args.Endpoint.Queue.MaxBackoff), "no Retry-After: backoff")
}

func TestOutOfOrderAndDuplicateSamples(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	in := start(t, t.TempDir(), testArgs(t, r.URL), nil)
	ls := labels.FromStrings("__name__", "m")

	app := in.c.Appendable().Appender(context.Background())
	ref, err := app.Append(0, ls, 2000, 1)
	require.NoError(t, err)
	require.NoError(t, app.Commit())

	app = in.c.Appendable().Appender(context.Background())
	_, err = app.Append(ref, ls, 1000, 2)
	require.ErrorIs(t, err, storage.ErrOutOfOrderSample)
	_, err = app.Append(ref, ls, 2000, 3) // same timestamp: dropped quietly
	require.NoError(t, err)
	_, err = app.Append(ref, ls, 3000, 4)
	require.NoError(t, err)
	_, err = app.Append(ref, ls, 2500, 5) // older than 3000 within the same commit
	require.NoError(t, err)
	require.NoError(t, app.Commit())

	waitSamples(t, r, 2)
	require.Equal(t, []remotewritetest.Sample{{T: 2000, V: 1}, {T: 3000, V: 4}}, r.Series()[ls.String()])
	require.Empty(t, r.Problems())
	require.Equal(t, 2.0, in.dropped(reasonOutOfOrder))
	require.Equal(t, 1.0, in.dropped(reasonDuplicate))
}

func TestAppendsFailWhenNotRunning(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	dir := t.TempDir()
	in := start(t, dir, testArgs(t, r.URL), nil)
	app := in.c.Appendable().Appender(context.Background())
	in.stop(t)
	_, err := app.Append(0, labels.FromStrings("__name__", "m"), 1, 1)
	require.Error(t, err)
	require.Error(t, app.Commit())
	_, err = in.c.Appendable().Appender(context.Background()).Append(0, labels.FromStrings("__name__", "m"), 1, 1)
	require.Error(t, err)
}

// A graceful restart resumes exactly: what was acknowledged is not sent again, what was
// not is sent, and no series' timestamps go back.
func TestRestartSendsBacklogExactly(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	dir := t.TempDir()
	args := testArgs(t, r.URL)
	in := start(t, dir, args, nil)

	in.appendSamples(t, 50, 10, 1000)
	waitSamples(t, r, 500)
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em().samplesSent) == 500 }, 10*time.Second, time.Millisecond)
	r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	in.appendSamples(t, 50, 10, 11000)
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em().samplesFailed) > 0 }, 10*time.Second, time.Millisecond)
	require.Equal(t, pipeline.HealthUnhealthy, in.health.Get().State)
	in.stop(t)

	r.Recover()
	in2 := start(t, dir, args, nil)
	waitSamples(t, r, 1000)
	requireExactly(t, r, 50, 20)
	in2.stop(t)
}

// A crash (the data directory as a SIGKILL leaves it) loses nothing that was not
// acknowledged, and sends nothing twice that the marker covers.
func TestCrashRecovery(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	dir := t.TempDir()
	args := testArgs(t, r.URL)
	in := start(t, dir, args, nil)

	in.appendSamples(t, 40, 5, 1000)
	waitSamples(t, r, 200)
	waitMarkerCovers(t, in)
	r.FailWith(remotewritetest.Response{Status: http.StatusInternalServerError})
	in.appendSamples(t, 40, 5, 6000)

	crashed := t.TempDir()
	copyDir(t, dir, crashed) // the WAL and marker as a crash right now would leave them
	in.stop(t)

	r.Recover()
	start(t, crashed, args, nil)
	waitSamples(t, r, 400)
	requireExactly(t, r, 40, 10)
}

// Without a usable marker everything in the WAL is sent (at-least-once), and that is logged.
func TestCorruptMarkerFallsBackToOldestData(t *testing.T) {
	for name, corrupt := range map[string]func(t *testing.T, path string){
		"garbage": func(t *testing.T, path string) {
			require.NoError(t, writeFile(path, "\x00\x01garbage"))
		},
		"torn": func(t *testing.T, path string) {
			b := readFile(t, path)
			require.NoError(t, writeFile(path, b[:len(b)/2]))
		},
		"bad checksum": func(t *testing.T, path string) {
			m, err := readMarker(path)
			require.NoError(t, err)
			b, err := m.encode()
			require.NoError(t, err)
			require.NoError(t, writeFile(path, strings.Replace(string(b), `"crc32":`, `"crc32":1`, 1)))
		},
		"past the WAL": func(t *testing.T, path string) {
			require.NoError(t, writeMarker(path, marker{Acked: walPos{Segment: 999, Offset: 1}}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := remotewritetest.NewReceiver(t)
			r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
			dir := t.TempDir()
			args := testArgs(t, r.URL)
			in := start(t, dir, args, nil)
			in.appendSamples(t, 10, 3, 1000)
			in.stop(t)

			corrupt(t, in.c.markerPath())
			r.Recover()
			in2 := start(t, dir, args, nil)
			waitSamples(t, r, 30)
			requireExactly(t, r, 10, 3)
			require.Contains(t, in2.logs.String(), "sending the WAL from its oldest segment")
		})
	}
}

func TestUpdateSwitchesEndpoint(t *testing.T) {
	r1 := remotewritetest.NewReceiver(t)
	r2 := remotewritetest.NewReceiver(t)
	args := testArgs(t, r1.URL)
	in := start(t, t.TempDir(), args, nil)
	in.appendSamples(t, 5, 2, 1000)
	waitSamples(t, r1, 10)
	// Acknowledged, not just received: unacknowledged samples would go to the new endpoint too.
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em().samplesSent) == 10 }, 10*time.Second, time.Millisecond)

	next := testArgs(t, r2.URL)
	next.ExternalLabels = map[string]string{"replica": "b"}
	require.NoError(t, in.c.Update(next))
	// A new URL is a new endpoint, which takes over the old one's position.
	require.Eventually(t, func() bool { return strings.Contains(in.logs.String(), "endpoint removed") }, 10*time.Second, time.Millisecond)
	in.appendSamples(t, 5, 2, 3000)
	waitSamples(t, r2, 10)
	requireExactly(t, r2, 5, 2, "replica", "b")
	require.Equal(t, 10, r1.SampleCount())

	bad := testArgs(t, r2.URL)
	bad.Endpoint.URL = config.URL{URL: &url.URL{Path: "/relative"}}
	require.Error(t, Registration.Update(in.c, bad), "Validate, done by the registration")
}

func TestNewRejects(t *testing.T) {
	_, err := Registration.New(pipeline.Options{DataPath: t.TempDir()}, DefaultArguments())
	require.ErrorContains(t, err, "endpoint: required")

	ok := testArgs(t, "http://127.0.0.1:1/api/v1/write")
	_, err = New(pipeline.Options{}, ok)
	require.ErrorContains(t, err, "storage path")
}

// On shutdown, queued samples are flushed and the marker covers them: a restart sends
// nothing again.
func TestShutdownFlushesQueue(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	dir := t.TempDir()
	args := testArgs(t, r.URL)
	args.Endpoint.Queue.BatchSendDeadline = 3600_000_000_000 // 1h: nothing is sent before the flush
	args.Endpoint.Queue.MaxSamplesPerSend = 100_000
	in := start(t, dir, args, nil)
	in.appendSamples(t, 20, 5, 1000)
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em().samplesIn) == 100 }, 10*time.Second, time.Millisecond)
	require.Zero(t, r.SampleCount())
	in.stop(t)
	requireExactly(t, r, 20, 5)

	in2 := start(t, dir, testArgs(t, r.URL), nil)
	in2.appendSamples(t, 20, 1, 10000)
	waitSamples(t, r, 120)
	requireExactly(t, r, 20, 6)
}

// Appenders run concurrently; two of them writing the same series (as a duplicated target
// would) never make its timestamps go back or repeat.
func TestConcurrentAppenders(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	in := start(t, t.TempDir(), testArgs(t, r.URL), nil)
	const groups, series, steps = 3, 50, 20
	var wg sync.WaitGroup
	for g := range groups {
		lsets := testSeries(series)
		for i := range lsets {
			lsets[i] = labels.NewBuilder(lsets[i]).Set("group", string(rune('a'+g))).Labels()
		}
		for range 2 { // two writers per group of series
			wg.Add(1)
			go func() {
				defer wg.Done()
				refs := make([]storage.SeriesRef, series)
				for k := range steps {
					app := in.c.Appendable().Appender(context.Background())
					for i, ls := range lsets {
						ref, err := app.Append(refs[i], ls, int64(k+1)*1000, float64(k))
						if err == nil {
							refs[i] = ref
						} else if !errors.Is(err, storage.ErrOutOfOrderSample) {
							t.Error(err)
						}
					}
					if err := app.Commit(); err != nil {
						t.Error(err)
					}
				}
			}()
		}
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		got := r.Series()
		if len(got) != groups*series {
			return false
		}
		for _, s := range got {
			if s[len(s)-1].T != steps*1000 {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond)
	require.Empty(t, r.Problems())
	require.Zero(t, r.Duplicates())
	require.EqualValues(t, groups*series, in.c.wal.Load().table.active.Load())
}
