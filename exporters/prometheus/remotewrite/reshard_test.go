package remotewrite

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
)

// TestReshardFollowsTheLoad: a receiver that takes 40 ms a request cannot keep up with
// one shard of 100-sample requests (2500 samples/s) when 6000 samples/s come in: the
// shard count grows (within max_shards), every sample arrives once, none twice, in
// order; when the data stops coming in the count goes back down to min_shards.
func TestReshardFollowsTheLoad(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	target, err := url.Parse(r.URL)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(40 * time.Millisecond)
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(slow.Close)

	args := testArgs(t, slow.URL+target.Path)
	q := &args.Endpoint.Queue
	q.Shards, q.MinShards, q.MaxShards = 2, 1, 8
	q.MaxSamplesPerSend = 100
	q.Capacity = 1000
	require.NoError(t, args.Validate())
	in := startWith(t, t.TempDir(), args, func(c *Component) { c.reshardInterval = 500 * time.Millisecond })
	shards := func() float64 { return testutil.ToFloat64(in.em().shards) }

	const series = 300 // every 50 ms: 6000 samples/s
	base := time.Now().Add(-time.Hour).UnixMilli()
	deadline := time.Now().Add(8 * time.Second)
	steps := 0
	for time.Now().Before(deadline) {
		in.appendSamples(t, series, 1, base+int64(steps)*1000)
		steps++
		time.Sleep(50 * time.Millisecond)
	}
	require.Greater(t, shards(), 2.0, "the count grew; logs:\n%s", in.logs.String())
	require.LessOrEqual(t, shards(), 8.0)
	grown := testutil.ToFloat64(in.em().reshards)
	t.Logf("%d samples/s in: %v shards after %d reshards", series*20, shards(), int(grown))

	waitSamples(t, r, series*steps)
	require.Zero(t, r.Duplicates(), "nothing sent twice across reshards")
	require.Empty(t, r.Problems(), "in order")
	require.Eventually(t, func() bool { return shards() == 1 }, 30*time.Second, 50*time.Millisecond,
		"back to min_shards once idle")
	require.Greater(t, testutil.ToFloat64(in.em().reshards), grown)
}
