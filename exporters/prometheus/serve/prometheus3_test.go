package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/scrape"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// intoHost hands a scrape the sink under test, whatever forward_to says.
type intoHost struct {
	*pipelinetest.Host
	app pipeline.Appendable
}

func (h intoHost) Appendable([]string) pipeline.Appendable { return h.app }

// nativeTarget serves, with client_golang, a native histogram app_latency_seconds (five
// observations, the last with exemplar trace_id="abc") and a counter app_requests_total (3,
// exemplar trace_id="def"), in every format client_golang has. It returns its host:port.
func nativeTarget(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "app_latency_seconds", Help: "Request latency.",
		NativeHistogramBucketFactor: 1.1, NativeHistogramMaxExemplars: 1,
	})
	reqs := prometheus.NewCounter(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests served."})
	reg.MustRegister(lat, reqs)
	for _, v := range []float64{0.01, 0.1, 0.2, 1} {
		lat.Observe(v)
	}
	lat.(prometheus.ExemplarObserver).ObserveWithExemplar(0.25, prometheus.Labels{"trace_id": "abc"})
	reqs.(prometheus.ExemplarAdder).AddWithExemplar(3, prometheus.Labels{"trace_id": "def"})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestPrometheus3NativeHistogramsAndExemplars: an application's native histogram and
// exemplars go through prometheus.scrape (scrape_native_histograms) into prometheus.serve,
// and a real Prometheus 3 scraping prometheus.serve over protobuf has the histogram
// (histogram_count, histogram_sum) and the exemplars of both; a second job scraping it over
// OpenMetrics only has the counter's exemplar, while the native histogram, which that
// format cannot carry, is counted as dropped.
func TestPrometheus3NativeHistogramsAndExemplars(t *testing.T) {
	backendtest.SkipShort(t, "Prometheus 3")
	c, reg := newSink(t, DefaultArguments())
	host := intoHost{Host: pipelinetest.NewHost(), app: c.Appendable()}
	args := pipelinetest.DecodeArgs[*scrape.Arguments](t, scrape.Registration, fmt.Sprintf(
		"forward_to: [sink/test]\njob_name: app\nscrape_interval: 100ms\nscrape_native_histograms: true\nstatic_configs: [{targets: [%q]}]\n", nativeTarget(t)))
	opts := pipelinetest.Options(t, "prometheus.scrape/test", host.Host)
	opts.Host = host
	sc, err := scrape.New(opts, args)
	require.NoError(t, err)
	pipelinetest.Run(t, sc)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)

	start := time.Now()
	prom := backendtest.StartPrometheus3(t,
		backendtest.WithScrapeConfigs(fmt.Sprintf(`  - job_name: sonde
    honor_labels: true
    scrape_interval: 1s
    scrape_timeout: 1s
    scrape_native_histograms: true
    scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0]
    static_configs: [{targets: [%[1]q]}]
  - job_name: om
    scrape_interval: 1s
    scrape_timeout: 1s
    scrape_protocols: [OpenMetricsText1.0.0]
    static_configs: [{targets: [%[1]q]}]
`, srv.Listener.Addr().String())))
	ctx := context.Background()

	query := func(q string) float64 {
		res, err := prom.Query(ctx, q)
		if err != nil || len(res) != 1 {
			return -1
		}
		return res[0].Float()
	}
	require.Eventually(t, func() bool {
		return query(`histogram_count(app_latency_seconds{job="app"})`) == 5
	}, 60*time.Second, 200*time.Millisecond, "native histogram in Prometheus")
	t.Logf("native histogram queryable in Prometheus 3 %s after its start", time.Since(start).Round(time.Millisecond))
	require.InDelta(t, 1.56, query(`histogram_sum(app_latency_seconds{job="app"})`), 1e-9)
	require.Equal(t, 3.0, query(`app_requests_total{job="app"}`))

	for _, q := range []string{`app_latency_seconds{job="app"}`, `app_requests_total{job="app"}`, `app_requests_total{job="om"}`} {
		want := "abc"
		if q != `app_latency_seconds{job="app"}` {
			want = "def"
		}
		var got []string
		require.Eventually(t, func() bool {
			got = exemplarTraces(t, prom.URL(), q, start)
			return len(got) > 0 && got[0] == want
		}, 30*time.Second, 200*time.Millisecond, "exemplars of %s: %v", q, &got)
	}
	require.Eventually(t, func() bool {
		return pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_samples_dropped_total", "reason", "native_histogram") > 0
	}, 30*time.Second, 100*time.Millisecond, "native histogram counted as not served to the OpenMetrics job")
	require.Equal(t, -1.0, query(`app_latency_seconds{job="om"}`), "no native histogram over OpenMetrics")
}

// exemplarTraces returns the trace_id of each exemplar Prometheus' /api/v1/query_exemplars
// answers for q since start.
func exemplarTraces(t *testing.T, base, q string, start time.Time) []string {
	t.Helper()
	u := base + "/api/v1/query_exemplars?query=" + url.QueryEscape(q) +
		"&start=" + strconv.FormatInt(start.Add(-time.Minute).Unix(), 10) +
		"&end=" + strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	_, body, err := backendtest.Get(context.Background(), u)
	if err != nil {
		return nil
	}
	var r struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &r) != nil {
		return nil
	}
	var out []string
	for _, s := range r.Data {
		for _, e := range s.Exemplars {
			out = append(out, e.Labels["trace_id"])
		}
	}
	return out
}
