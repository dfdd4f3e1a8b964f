// Package scrapetest runs prometheus.scrape in other packages' tests: a target serving typed
// metric families, as an instrumented application does, and a scrape of it into an
// Appendable, so that a sink's test sees what a real scrape hands it (samples and metadata).
package scrapetest

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/scrape"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// Families are the metric families TypedTarget serves, by name, with their type and help.
var Families = map[string]struct{ Type, Help string }{
	"requests_total":      {"counter", "Requests served."},
	"temperature_celsius": {"gauge", "Room temperature."},
	"latency_seconds":     {"histogram", "Request latency."},
}

// TypedTarget serves a counter (requests_total{code="200"} 3), a gauge
// (temperature_celsius 21.5) and a histogram (latency_seconds, buckets 0.1 and 1, one
// observation of 0.5) in the text format, with client_golang, until the test ends. It
// returns the target's host:port.
func TypedTarget(t testing.TB) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: Families["requests_total"].Help}, []string{"code"})
	temp := prometheus.NewGauge(prometheus.GaugeOpts{Name: "temperature_celsius", Help: Families["temperature_celsius"].Help})
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latency_seconds", Help: Families["latency_seconds"].Help, Buckets: []float64{0.1, 1}})
	reg.MustRegister(reqs, temp, lat)
	reqs.WithLabelValues("200").Add(3)
	temp.Set(21.5)
	lat.Observe(0.5)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// intoHost hands the scrape the Appendable under test, whatever forward_to says.
type intoHost struct {
	*pipelinetest.Host
	app pipeline.Appendable
}

func (h intoHost) Appendable([]string) pipeline.Appendable { return h.app }

// Into runs prometheus.scrape (job "app") on target every 100ms into app until the test
// ends.
func Into(t testing.TB, target string, app pipeline.Appendable) {
	t.Helper()
	host := intoHost{Host: pipelinetest.NewHost(), app: app}
	args := pipelinetest.DecodeArgs[*scrape.Arguments](t, scrape.Registration, fmt.Sprintf(
		"forward_to: [sink/test]\njob_name: app\nscrape_interval: 100ms\nstatic_configs: [{targets: [%q]}]\n", target))
	opts := pipelinetest.Options(t, "prometheus.scrape/test", host.Host)
	opts.Host = host
	c, err := scrape.New(opts, args)
	require.NoError(t, err)
	pipelinetest.Run(t, c)
}
