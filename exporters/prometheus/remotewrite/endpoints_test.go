package remotewrite

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// testEndpoints returns arguments with one endpoint per URL (named a, b, ...), with the fast
// settings of testArgs.
func testEndpoints(t testing.TB, urls ...string) *Arguments {
	a := testArgs(t, urls[0])
	for i, raw := range urls {
		ep := a.Endpoint
		u, err := url.Parse(raw)
		require.NoError(t, err)
		ep.URL = config.URL{URL: u}
		ep.Name = string(rune('a' + i))
		a.Endpoints = append(a.Endpoints, ep)
	}
	a.Endpoint = DefaultEndpoint()
	return a
}

// decodeStrict decodes text into a as the configuration loader does: unknown keys are errors.
func decodeStrict(a *Arguments, text string) error {
	dec := yaml.NewDecoder(bytes.NewBufferString(text))
	dec.KnownFields(true)
	return dec.Decode(a)
}

func TestEndpointsConfig(t *testing.T) {
	t.Run("decode: each endpoint gets the defaults", func(t *testing.T) {
		a := pipelinetest.DecodeArgs[*Arguments](t, Registration, `
endpoints:
  - url: http://a:9090/api/v1/write
  - name: mimir
    url: https://mimir.example/api/v1/push
    queue: {shards: 8}
`)
		require.NoError(t, a.Validate())
		require.Len(t, a.endpoints(), 2)
		d := DefaultEndpoint()
		require.Equal(t, d.Queue, a.Endpoints[0].Queue)
		require.Equal(t, d.RemoteTimeout, a.Endpoints[1].RemoteTimeout)
		require.Equal(t, 8, a.Endpoints[1].Queue.Shards)
		require.Equal(t, d.Queue.Capacity, a.Endpoints[1].Queue.Capacity)
		require.Equal(t, "http://a:9090/api/v1/write", a.Endpoints[0].name())
		require.Equal(t, "mimir", a.Endpoints[1].name())
	})
	t.Run("decode: unknown keys in an endpoint are errors", func(t *testing.T) {
		a := DefaultArguments()
		err := decodeStrict(a, "endpoints: [{url: http://a/w, shardz: 3}]")
		require.ErrorContains(t, err, "shardz")
	})
	t.Run("decode: a list under endpoint says to write endpoints", func(t *testing.T) {
		a := DefaultArguments()
		err := decodeStrict(a, "endpoint: [{url: http://a/w}, {url: http://b/w}]")
		require.ErrorContains(t, err, "write endpoints: [...] instead of endpoint")
	})
	for _, tc := range []struct {
		name, yaml string
		fields     []string
	}{
		{"one endpoint", "endpoint: {url: http://a/w}", nil},
		{"neither", "wal: {max_age: 1h}", []string{"endpoint"}},
		{"both", "endpoint: {url: http://a/w}\nendpoints: [{url: http://b/w}]", []string{"endpoints"}},
		{"same name", "endpoints: [{url: http://a/w}, {url: http://a/w}]", []string{"endpoints[1].name"}},
		{"named apart", "endpoints: [{url: http://a/w}, {url: http://a/w, name: copy}]", nil},
		{"bad second", "endpoints: [{url: http://a/w}, {url: /w, queue: {shards: 0}}]",
			[]string{"endpoints[1].queue.shards", "endpoints[1].url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := pipelinetest.FieldsOf(pipelinetest.DecodeArgs[*Arguments](t, Registration, tc.yaml).Validate())
			require.ElementsMatch(t, tc.fields, fields)
		})
	}
}

// TestDownEndpointStallsNoOther: one receiver answers 503 for good; the other gets every
// sample meanwhile, and the WAL keeps what the down one has not acknowledged. Back, it gets
// all of it, exactly once, and the WAL is truncated again.
func TestDownEndpointStallsNoOther(t *testing.T) {
	up, down := remotewritetest.NewReceiver(t), remotewritetest.NewReceiver(t)
	down.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	args := testEndpoints(t, up.URL, down.URL)
	args.WAL.TruncateFrequency = model.Duration(100 * time.Millisecond)
	args.WAL.MaxSize = minWALSize // small segments: several of them
	dir := t.TempDir()
	in := start(t, dir, args, nil)

	const series, steps = 100, 200
	in.appendRandom(t, series, steps, 1000)
	waitSamples(t, up, series*steps)
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em("a").samplesSent) == series*steps }, 10*time.Second, time.Millisecond)
	require.Zero(t, down.SampleCount())
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em("b").pendingSamples) == series*steps }, 10*time.Second, time.Millisecond,
		"b read it all and waits")
	require.Eventually(t, func() bool { return in.health.Get().State == pipeline.HealthUnhealthy }, 10*time.Second, time.Millisecond)
	require.Contains(t, in.health.Get().Message, "sending to "+down.URL)
	segs, err := in.c.wal.Load().segments()
	require.NoError(t, err)
	require.Greater(t, len(segs), 1, "several segments")
	require.Equal(t, 0, segs[0].index, "nothing b has not acknowledged is truncated")

	debug := in.c.DebugInfo().(DebugInfo)
	require.Len(t, debug.Endpoints, 2)
	require.Equal(t, "b", debug.Endpoints[1].Name)
	require.Equal(t, int64(series*steps), debug.Endpoints[1].PendingSamples)
	require.Zero(t, debug.Endpoints[0].PendingSamples)
	require.Positive(t, debug.Endpoints[1].Retries)

	down.Recover()
	waitSamples(t, down, series*steps)
	requireExactly(t, down, series, steps)
	requireExactly(t, up, series, steps)
	require.Eventually(t, func() bool { return in.health.Get().State == pipeline.HealthHealthy }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		segs, err := in.c.wal.Load().segments()
		return err == nil && segs[0].index > 0
	}, 10*time.Second, 10*time.Millisecond, "truncated once both acknowledged")
	for _, name := range []string{"a", "b"} {
		require.FileExists(t, filepath.Join(dir, endpointMarkerBase(name)))
	}
}

// TestEndpointOverBoundsIsDroppedForItAlone: an endpoint down beyond wal.max_size loses the
// oldest data (counted for it); the other loses nothing.
func TestEndpointOverBoundsIsDroppedForItAlone(t *testing.T) {
	up, down := remotewritetest.NewReceiver(t), remotewritetest.NewReceiver(t)
	up.CountOnly()
	down.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	args := testEndpoints(t, up.URL, down.URL)
	args.WAL.TruncateFrequency = model.Duration(50 * time.Millisecond)
	args.WAL.MaxSize = minWALSize
	in := start(t, t.TempDir(), args, nil)

	const series, steps = 100, 1500 // ~1.7MB of incompressible samples
	for k := 0; k < steps; k += 100 {
		in.appendRandom(t, series, 100, int64(k+1)*1000)
		waitSamples(t, up, series*(k+100)) // a keeps up: the WAL grows for b alone
	}
	require.Eventually(t, func() bool { return in.dropped(reasonMaxSize) > 0 }, 20*time.Second, 5*time.Millisecond)
	require.Zero(t, testutil.ToFloat64(in.em("a").samplesDropped.WithLabelValues(reasonMaxSize)))
	require.Positive(t, testutil.ToFloat64(in.em("b").samplesDropped.WithLabelValues(reasonMaxSize)))
	require.Equal(t, series*steps, up.SampleCount())
}

// TestEndpointsAddedAndRemoved: Update adds an endpoint (it starts from the oldest data in
// the WAL), removes one (its series leave the metrics, its marker stays), and changes one
// (restarted from its marker: nothing sent twice).
func TestEndpointsAddedAndRemoved(t *testing.T) {
	ra, rb := remotewritetest.NewReceiver(t), remotewritetest.NewReceiver(t)
	in := start(t, t.TempDir(), testEndpoints(t, ra.URL), nil)
	reg := in.reg
	in.appendSamples(t, 10, 2, 1000)
	waitSamples(t, ra, 20)

	both := testEndpoints(t, ra.URL, rb.URL)
	require.NoError(t, in.c.Update(both))
	waitSamples(t, rb, 20) // b starts from the oldest data
	in.appendSamples(t, 10, 2, 3000)
	waitSamples(t, ra, 40)
	waitSamples(t, rb, 40)
	requireExactly(t, ra, 10, 4)
	requireExactly(t, rb, 10, 4)

	// a removed, b changed, c added.
	rc := remotewritetest.NewReceiver(t)
	next := testEndpoints(t, ra.URL, rb.URL, rc.URL)
	next.Endpoints = next.Endpoints[1:]
	next.Endpoints[0].Headers = map[string]string{"X-Changed": "1"}
	require.NoError(t, in.c.Update(next))
	require.Eventually(t, func() bool {
		// b restarts after a is removed: samples appended before would go out without the header.
		return strings.Contains(in.logs.String(), "endpoint removed") && strings.Contains(in.logs.String(), "sender restarted")
	}, 10*time.Second, time.Millisecond)
	in.appendSamples(t, 10, 1, 5000)
	waitSamples(t, rb, 50)
	waitSamples(t, rc, 50)
	requireExactly(t, rb, 10, 5)
	requireExactly(t, rc, 10, 5)
	require.Equal(t, "1", rb.Requests()[len(rb.Requests())-1].Header.Get("X-Changed"))
	require.Equal(t, 40, ra.SampleCount())
	require.Contains(t, in.logs.String(), `endpoint removed" endpoint=a`)
	require.Zero(t, pipelinetest.MetricValue(t, reg, "sonde_remote_write_samples_sent_total", "endpoint", "a"), "a's series are gone")
	require.Eventually(t, func() bool {
		return pipelinetest.MetricValue(t, reg, "sonde_remote_write_samples_sent_total", "endpoint", "b") == 50
	}, 10*time.Second, time.Millisecond, "b's counts go on")
}

// TestOneToSeveralEndpointsKeepsPosition: going from endpoint to endpoints (and back) sends
// the first endpoint nothing twice: it takes its marker over.
func TestOneToSeveralEndpointsKeepsPosition(t *testing.T) {
	ra, rb := remotewritetest.NewReceiver(t), remotewritetest.NewReceiver(t)
	dir := t.TempDir()
	single := testArgs(t, ra.URL)
	in := start(t, dir, single, nil)
	in.appendSamples(t, 10, 3, 1000)
	waitSamples(t, ra, 30)
	in.stop(t)
	// Written before markers named their endpoint.
	m, err := readMarker(filepath.Join(dir, markerFile))
	require.NoError(t, err)
	m.Endpoint = ""
	require.NoError(t, writeMarker(filepath.Join(dir, markerFile), m))

	several := testEndpoints(t, ra.URL, rb.URL)
	several.Endpoints[0].Name = "" // keyed by its URL, as the one endpoint was
	in = start(t, dir, several, nil)
	in.appendSamples(t, 10, 1, 4000)
	waitSamples(t, rb, 40)
	waitSamples(t, ra, 40)
	requireExactly(t, ra, 10, 4)
	require.Contains(t, in.logs.String(), "position taken over")
	in.stop(t)

	in = start(t, dir, single, nil)
	in.appendSamples(t, 10, 1, 5000)
	waitSamples(t, ra, 50)
	requireExactly(t, ra, 10, 5)
	require.Contains(t, in.logs.String(), "position taken over")
}

// TestEndpointsAgainstPrometheus: two real Prometheus servers, one stopped. The other gets
// every sample while it is down; started again, the stopped one catches up from the WAL with
// every sample, none lost: both answer the same number of series and samples.
func TestEndpointsAgainstPrometheus(t *testing.T) {
	pa, pb := backendtest.StartPrometheus(t), backendtest.StartPrometheus(t)
	pb.Stop()
	args := testEndpoints(t, pa.WriteURL(), pb.WriteURL())
	args.Endpoints[1].Queue.MaxBackoff = model.Duration(200 * time.Millisecond) // back soon after b is
	in := start(t, t.TempDir(), args, nil)

	const series, steps = 50, 120
	base := time.Now().Add(-10 * time.Minute).UnixMilli()
	in.appendSamples(t, series, steps, base)
	count := func(p *backendtest.Prometheus) (int, int) {
		res, err := p.Query(context.Background(), `count_over_time(test_metric{job="test"}[1h])`)
		if err != nil {
			return 0, 0
		}
		n := 0
		for _, s := range res {
			n += int(s.Float())
		}
		return len(res), n
	}
	require.Eventually(t, func() bool { s, n := count(pa); return s == series && n == series*steps }, 30*time.Second, 100*time.Millisecond,
		"the running Prometheus gets everything while the other is down")
	require.Zero(t, testutil.ToFloat64(in.em("b").samplesSent))
	pendingB := testutil.ToFloat64(in.em("b").pendingSamples)
	t.Logf("a: %d series × %d samples received; b down: %.0f samples pending", series, steps, pendingB)

	pb.Restart()
	in.appendSamples(t, series, 10, base+steps*1000)
	start := time.Now()
	require.Eventually(t, func() bool { s, n := count(pb); return s == series && n == series*(steps+10) }, 60*time.Second, 100*time.Millisecond,
		"the restarted Prometheus catches up from the WAL")
	t.Logf("b caught up with %d samples %s after its restart", series*(steps+10), time.Since(start).Round(10*time.Millisecond))
	s, n := count(pa)
	require.Equal(t, series, s)
	require.Equal(t, series*(steps+10), n)
	require.Zero(t, in.dropped(reasonHTTP4xx))
}
