package remotewrite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// exchange is what a recordingProxy saw of one request and its answer.
type exchange struct {
	v2      bool   // the request's Content-Type named io.prometheus.write.v2.Request
	status  int    // the answer's status
	written string // the answer's X-Prometheus-Remote-Write-Samples-Written, "" when absent
}

// recordingProxy forwards to a real receiver (at its base URL) and records each exchange: the receiver's
// answer headers are what the tests check, and sonde keeps them to itself.
type recordingProxy struct {
	URL string
	mu  sync.Mutex
	log []exchange
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		p.log = append(p.log, exchange{
			v2:      resp.Request.Header.Get("Content-Type") == protoV2.contentType(),
			status:  resp.StatusCode,
			written: resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written"),
		})
		p.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/api/v1/write"
	return p
}

func (p *recordingProxy) exchanges() []exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]exchange(nil), p.log...)
}

// queryCount waits until q returns n series.
func queryCount(t *testing.T, prom *backendtest.Prometheus, q string, n int) []backendtest.Series {
	t.Helper()
	var res []backendtest.Series
	require.Eventually(t, func() bool {
		var err error
		res, err = prom.Query(context.Background(), q)
		return err == nil && len(res) == n
	}, 30*time.Second, 50*time.Millisecond, "query %s: %v", q, res)
	return res
}

// TestV2ToPrometheus3: a real Prometheus 3 receives remote write 2.0 (auto): every sample
// can be queried back, every answer carried the *-Written headers with the count sent, and
// the type and unit sent inline are on the series (Prometheus 3's type-and-unit-labels; its
// metadata API answers from its own scrapes only).
func TestV2ToPrometheus3(t *testing.T) {
	prom := backendtest.StartPrometheus3(t)
	proxy := newRecordingProxy(t, prom.URL())
	args := testArgs(t, proxy.URL)
	in := start(t, t.TempDir(), args, nil)
	now := time.Now().UnixMilli()
	in.appendWithMetadata(t, testMeta, now, testMetaSeries...)
	in.appendSamples(t, 100, 3, now-3000)

	queryCount(t, prom, `test_metric`, 100)
	queryCount(t, prom, `count_over_time(test_metric[5m]) == 3`, 100)
	res := queryCount(t, prom, `requests_total`, 2)
	require.Equal(t, "counter", res[0].Metric["__type__"])
	res = queryCount(t, prom, `temperature_celsius`, 1)
	require.Equal(t, "gauge", res[0].Metric["__type__"])
	require.Equal(t, "celsius", res[0].Metric["__unit__"])
	res = queryCount(t, prom, `request_duration_seconds_count`, 1)
	require.Equal(t, "histogram", res[0].Metric["__type__"])
	require.Equal(t, "seconds", res[0].Metric["__unit__"])

	sent := testutil.ToFloat64(in.em().samplesSent)
	require.Equal(t, float64(len(testMetaSeries)+300), sent)
	for _, ex := range proxy.exchanges() {
		require.True(t, ex.v2, "2.0 only")
		require.Equal(t, http.StatusNoContent, ex.status)
		require.NotEmpty(t, ex.written, "X-Prometheus-Remote-Write-Samples-Written")
	}
	require.Zero(t, testutil.ToFloat64(in.em().protocolFallbacks))
	require.Zero(t, in.dropped(reasonPartialWrite))
	require.Equal(t, protobufV2, protocolOf(t, in))
	t.Logf("remote write 2.0: %.1f bytes per sample (%.0f samples, snappy, metadata inline)",
		testutil.ToFloat64(in.em().sentBytes)/sent, sent)
}

// TestAutoFallbackToPrometheus2: Prometheus 2 (Debian's 2.42) knows remote write 1.0 only:
// the first 2.0 request is answered without *-Written headers (Prometheus 2 finds no series
// in it), sonde sends that batch again as 1.0, and 1.0 only from then on, metadata
// requests included: everything is delivered, once.
func TestAutoFallbackToPrometheus2(t *testing.T) {
	prom := backendtest.StartPrometheus(t)
	proxy := newRecordingProxy(t, prom.URL())
	args := testArgs(t, proxy.URL)
	args.Endpoint.Queue.Shards = 1 // one first request: with more, each shard's first may be 2.0
	args.Endpoint.Metadata.SendInterval = model20ms
	in := start(t, t.TempDir(), args, nil)
	now := time.Now().UnixMilli()
	in.appendSamples(t, 100, 1, now-3000)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exchanges: %+v\nlogs:\n%s", proxy.exchanges(), in.logs.String())
		}
	})
	queryCount(t, prom, `test_metric`, 100)
	in.appendWithMetadata(t, testMeta, now, testMetaSeries...)
	in.appendSamples(t, 100, 2, now-2000)
	queryCount(t, prom, `count_over_time(test_metric[5m]) == 3`, 100)
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.em().metadataSent) >= 3 }, 30*time.Second, 10*time.Millisecond)

	ex := proxy.exchanges()
	require.True(t, ex[0].v2, "2.0 first")
	require.Empty(t, ex[0].written, "a 1.0 receiver answers without *-Written headers")
	for _, e := range ex[1:] {
		require.False(t, e.v2, "1.0 for good after the fallback")
		require.Equal(t, http.StatusNoContent, e.status)
	}
	require.Equal(t, 1.0, testutil.ToFloat64(in.em().protocolFallbacks))
	require.Equal(t, protobufV1, protocolOf(t, in))
	require.Zero(t, testutil.CollectAndCount(in.em().samplesDropped))
	sent := testutil.ToFloat64(in.em().samplesSent)
	require.Equal(t, float64(300+len(testMetaSeries)), sent)
	t.Logf("remote write 1.0: %.1f bytes per sample (%.0f samples, snappy), first answer to 2.0: %d",
		testutil.ToFloat64(in.em().sentBytes)/sent, sent, ex[0].status)
}
