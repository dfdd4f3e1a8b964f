package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sondehq/sonde/deploy/nodetest/apps/internal/emit"
)

// metrics are what /metrics serves. demo_lines_written_total{stream} counts exactly the lines
// that were written (the final line excluded), so a test can compare it with what arrived.
type metrics struct {
	reg        *prometheus.Registry
	lines      *prometheus.CounterVec
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	lastSeq    prometheus.Gauge
	spans      prometheus.Counter
	otelErrors prometheus.Counter
}

func newMetrics(w *emit.Writer, runID string) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "demo_lines_written_total", Help: "Log lines written, by stream (the final line not counted).",
		}, []string{"stream"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "demo_http_requests_total", Help: "Requests the demo pretends to have served, by status code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "demo_http_request_duration_seconds", Help: "Duration of the requests the demo pretends to have served.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25},
		}, []string{"stream"}),
		lastSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "demo_last_seq", Help: "Sequence number of the last line written.",
		}),
		spans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "demo_spans_total", Help: "Spans recorded (one per -span-every lines).",
		}),
		otelErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "demo_otel_errors_total", Help: "Errors the OpenTelemetry SDK reported (failed or dropped span exports).",
		}),
	}
	// Pre-create both streams so a stream with no line yet reads 0 rather than absent.
	for _, s := range []emit.Stream{emit.Stdout, emit.Stderr} {
		m.lines.WithLabelValues(s.String())
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "demo_info", Help: "Always 1; labels identify this process's lines.",
		ConstLabels: prometheus.Labels{"run": runID, "inst": w.Inst()},
	})
	info.Set(1)
	m.reg.MustRegister(m.lines, m.requests, m.duration, m.lastSeq, m.spans, m.otelErrors, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe records one written line.
func (m *metrics) observe(s emit.Stream, seq uint64, seconds float64, code string) {
	m.lines.WithLabelValues(s.String()).Inc()
	m.requests.WithLabelValues(code).Inc()
	m.duration.WithLabelValues(s.String()).Observe(seconds)
	m.lastSeq.Set(float64(seq))
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}
