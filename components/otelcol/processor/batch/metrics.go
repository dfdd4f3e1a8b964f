package batch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/internal/otelcol"
)

type metrics struct {
	flushes *prometheus.CounterVec
	sent    *prometheus.CounterVec
	refused *prometheus.CounterVec
	dropped *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_processor_batch_flushes_total",
			Help: "Batches sent, by signal and what triggered the send (size, timeout, stop).",
		}, []string{"signal", "trigger"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_processor_batch_sent_total",
			Help: "Spans, metric points or log records the next components took, by signal.",
		}, []string{"signal"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_processor_batch_refused_total",
			Help: "Spans, metric points or log records not taken because a refused batch was waiting for its retry or the batch was full; the senders were asked to retry, by signal.",
		}, []string{"signal"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_processor_batch_dropped_total",
			Help: "Spans, metric points or log records given up on, by signal and reason: rejected (the next component refused them for good), shutdown (still refused when the component stopped).",
		}, []string{"signal", "reason"}),
	}
	for _, s := range otelcol.Signals {
		m.sent.WithLabelValues(s)
		m.refused.WithLabelValues(s)
		m.dropped.WithLabelValues(s, "rejected")
	}
	if reg != nil {
		reg.MustRegister(m.flushes, m.sent, m.refused, m.dropped)
	}
	return m
}
