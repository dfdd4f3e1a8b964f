package main

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
)

// TestE2EStartTimestamps: a client_golang counter exposes its created timestamp (protobuf
// format); prometheus.scrape with start_timestamps ingests it and prometheus.remote_write
// sends it as the samples' remote write 2.0 start_timestamp.
func TestE2EStartTimestamps(t *testing.T) {
	reg := prometheus.NewRegistry()
	registered := time.Now()
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "e2e_requests_total", Help: "Requests."})
	reg.MustRegister(requests)
	requests.Add(3)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	target, err := url.Parse(srv.URL)
	require.NoError(t, err)
	rw := remotewritetest.NewReceiver(t)

	newSonde(t, "--config="+writeConfig(t, fmt.Sprintf(`
components:
  prometheus.scrape/st:
    static_configs: [{targets: [%q]}]
    job_name: e2e
    scrape_interval: 1s
    scrape_timeout: 900ms
    start_timestamps: true
    scrape_protocols: [PrometheusProto, PrometheusText0.0.4]
    forward_to: [prometheus.remote_write/rw]
  prometheus.remote_write/rw:
    endpoint:
      url: %s
      protobuf_message: io.prometheus.write.v2.Request
      queue: {batch_send_deadline: 1s}
`, target.Host, rw.URL)))

	key := fmt.Sprintf(`{__name__="e2e_requests_total", instance=%q, job="e2e"}`, target.Host)
	require.Eventually(t, func() bool { _, ok := rw.StartTimestamps()[key]; return ok }, 60*time.Second, 100*time.Millisecond,
		"no start timestamp for %s; series: %v", key, rw.Series())
	st := rw.StartTimestamps()[key]
	require.WithinDuration(t, registered, time.UnixMilli(st), time.Second, "the counter's creation")
}
