package kubelet

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// metrics are discovery.kubelet's own metrics; the controller labels them with the
// component id.
type metrics struct {
	refreshes prometheus.Counter
	failures  prometheus.Counter
	duration  prometheus.Histogram
	targets   prometheus.Gauge
	dropped   *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_discovery_kubelet_refreshes_total",
			Help: "Reads of the kubelet's /pods.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_discovery_kubelet_refresh_failures_total",
			Help: "Reads of the kubelet's /pods that failed (the previous targets are kept).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sonde_discovery_kubelet_refresh_duration_seconds",
			Help:    "Duration of reads of the kubelet's /pods.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_kubelet_targets",
			Help: "Number of targets in the latest snapshot.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_discovery_kubelet_dropped_total",
			Help: "Pods left out of a snapshot, by reason (invalid: no namespace or name).",
		}, []string{"reason"}),
	}
}

// register adds the metrics to reg, in New; the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.refreshes, m.failures, m.duration, m.targets, m.dropped)
}
