package otlp

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"

	"github.com/sondehq/sonde/internal/otelcol"
)

// metrics are the receiver's own metrics.
type metrics struct {
	accepted *prometheus.CounterVec
	refused  *prometheus.CounterVec
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_receiver_accepted_total",
			Help: "Spans, metric points or log records accepted and handed to the outputs, by signal and transport.",
		}, []string{"signal", "transport"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_receiver_refused_total",
			Help: "Spans, metric points or log records the outputs did not take, so the sender was answered an error (429/503 ask it to retry), by signal and transport.",
		}, []string{"signal", "transport"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_receiver_requests_total",
			Help: "Requests answered, by transport and status code (HTTP status, or gRPC code name).",
		}, []string{"transport", "code"}),
	}
	for _, s := range otelcol.Signals {
		for _, t := range []string{"grpc", "http"} {
			m.accepted.WithLabelValues(s, t)
			m.refused.WithLabelValues(s, t)
		}
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.refused, m.requests)
	}
	return m
}

// instruments maps the collector receiver's own counters onto the metrics above.
func (m *metrics) instruments() otelcol.Instruments {
	in := otelcol.Instruments{Counters: map[string]func(attribute.Set, int64){}}
	add := func(vec *prometheus.CounterVec) func(string) func(attribute.Set, int64) {
		return func(name string) func(attribute.Set, int64) {
			signal := otelcol.SignalOfInstrument(name)
			return func(attrs attribute.Set, n int64) {
				if n <= 0 {
					return
				}
				tr, _ := attrs.Value("transport")
				vec.WithLabelValues(signal, tr.AsString()).Add(float64(n))
			}
		}
	}
	for _, name := range otelcol.InstrumentNames("otelcol_receiver_accepted_") {
		in.Counters[name] = add(m.accepted)(name)
	}
	// "Refused" (the outputs said no) and "failed" (any other error) both reached the
	// sender as an error answer.
	for _, prefix := range []string{"otelcol_receiver_refused_", "otelcol_receiver_failed_"} {
		for _, name := range otelcol.InstrumentNames(prefix) {
			in.Counters[name] = add(m.refused)(name)
		}
	}
	return in
}

func (m *metrics) countRequest(transport, code string) {
	m.requests.WithLabelValues(transport, code).Inc()
}
