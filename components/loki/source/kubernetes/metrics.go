package kubernetes

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sondehq/sonde/pipeline"
)

// metrics are loki.source.kubernetes' own metrics; the controller labels them with the
// component id.
type metrics struct {
	linesRead    prometheus.Counter
	entriesSent  prometheus.Counter
	batchesAcked *prometheus.CounterVec
	reconnects   prometheus.Counter
	streams      prometheus.Gauge
	dropped      *prometheus.CounterVec
	truncated    prometheus.Counter
	refused      prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		linesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_lines_read_total",
			Help: "Log lines read from the pods/log API, resent lines skipped after a reconnect included.",
		}),
		entriesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_entries_sent_total",
			Help: "Log entries handed to forward_to.",
		}),
		batchesAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_batches_acked_total",
			Help: "Batches acknowledged by forward_to, by result (success, error).",
		}, []string{"result"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_reconnects_total",
			Help: "Log streams opened again after they ended or failed.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_loki_source_kubernetes_streams_active",
			Help: "Containers whose log is being followed.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_dropped_total",
			Help: "Log lines dropped, by reason (malformed: no timestamp where the API puts one).",
		}, []string{"reason"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_lines_truncated_total",
			Help: "Log lines longer than the line limit, sent truncated.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_requests_refused_total",
			Help: "pods/log requests the API server refused (unauthorized or forbidden).",
		}),
	}
	m.dropped.WithLabelValues("malformed")
	return m
}

// register registers the metrics on reg; New calls it, the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.linesRead, m.entriesSent, m.batchesAcked, m.reconnects, m.streams, m.dropped, m.truncated, m.refused)
}
