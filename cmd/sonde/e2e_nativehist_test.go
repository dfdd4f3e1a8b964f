package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// TestE2ENativeHistogramsAndExemplars: a target exposing a native histogram and a counter
// with an exemplar (client_golang, served as protobuf when asked) is scraped by
// prometheus.scrape with scrape_native_histograms and remote-written to a real Prometheus
// 3 (remote write 2.0): the histogram can be queried as a native histogram, the exemplar
// through the exemplar API, with its trace id.
func TestE2ENativeHistogramsAndExemplars(t *testing.T) {
	prom := backendtest.StartPrometheus3(t)
	reg := prometheus.NewRegistry()
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "e2e_latency_seconds", Help: "Latency.", NativeHistogramBucketFactor: 1.1,
	})
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "e2e_requests_total", Help: "Requests."})
	reg.MustRegister(latency, requests)
	for i := range 50 {
		latency.Observe(float64(i) / 100)
	}
	requests.(prometheus.ExemplarAdder).AddWithExemplar(3, prometheus.Labels{"trace_id": "0af7651916cd43dd8448eb211c80319c"})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	t.Cleanup(srv.Close)
	target, err := url.Parse(srv.URL)
	require.NoError(t, err)

	s := newSonde(t, "--config="+writeConfig(t, fmt.Sprintf(`
components:
  prometheus.scrape/native:
    static_configs: [{targets: [%q]}]
    job_name: e2e
    scrape_interval: 1s
    scrape_timeout: 900ms
    scrape_native_histograms: true
    forward_to: [prometheus.remote_write/prom]
  prometheus.remote_write/prom:
    endpoint:
      url: %s
      queue:
        batch_send_deadline: 1s
`, target.Host, prom.WriteURL())))

	require.Eventually(t, func() bool {
		res, err := prom.Query(context.Background(), `histogram_count(e2e_latency_seconds{job="e2e"}) == 50`)
		return err == nil && len(res) == 1
	}, 60*time.Second, 250*time.Millisecond, "the native histogram never arrived")

	var found string
	require.Eventually(t, func() bool {
		q := url.Values{"query": {`e2e_requests_total`},
			"start": {fmt.Sprint(time.Now().Add(-10 * time.Minute).Unix())}, "end": {fmt.Sprint(time.Now().Unix() + 1)}}
		code, body := backendtest.Fetch(t, http.MethodGet, prom.URL()+"/api/v1/query_exemplars?"+q.Encode())
		var r struct {
			Data []struct {
				Exemplars []struct {
					Labels map[string]string `json:"labels"`
				} `json:"exemplars"`
			} `json:"data"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || len(r.Data) == 0 || len(r.Data[0].Exemplars) == 0 {
			return false
		}
		found = r.Data[0].Exemplars[0].Labels["trace_id"]
		return true
	}, 60*time.Second, 250*time.Millisecond, "the exemplar never arrived")
	require.Equal(t, "0af7651916cd43dd8448eb211c80319c", found)
	require.Equal(t, 1.0, s.metric(t, "sonde_remote_write_exemplars_appended_total"), "the same exemplar scraped again is not written again")
	require.Zero(t, s.metric(t, "sonde_remote_write_samples_dropped_total", `reason="unsupported"`))
}
