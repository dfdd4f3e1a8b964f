package kubernetes

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are loki.source.kubernetes' own metrics; the controller labels them with the
// component id.
type metrics struct {
	reg          prometheus.Registerer
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

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.linesRead, m.entriesSent, m.batchesAcked, m.reconnects, m.streams, m.dropped, m.truncated, m.refused}
}

// register adds the metrics to reg (nil: none); undo with unregister.
func (m *metrics) register(reg prometheus.Registerer) error {
	m.reg = reg
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.unregister()
		return err
	}
	return nil
}

// unregister removes the metrics, so that a restarted component can register them again.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}
