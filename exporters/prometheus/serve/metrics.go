package serve

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// metrics are the component's own metrics.
type metrics struct {
	received         prometheus.Counter
	droppedMax       prometheus.Counter
	droppedOOO       prometheus.Counter
	droppedNoName    prometheus.Counter
	droppedHistogram prometheus.Counter
	removedStale     prometheus.Counter
	removedExpired   prometheus.Counter
	series           prometheus.Gauge
}

// newMetrics registers the metrics on reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	received := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sonde_prometheus_serve_samples_received_total",
		Help: "Samples committed to the serve sink, including the dropped ones.",
	})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sonde_prometheus_serve_samples_dropped_total",
		Help: "Samples not kept, by reason: max_series (a new series beyond max_series), out_of_order (older than the kept sample), no_metric_name, native_histogram (not representable in the text format).",
	}, []string{"reason"})
	removed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sonde_prometheus_serve_series_removed_total",
		Help: "Series forgotten, by reason: stale_marker (a staleness marker arrived) or expired (no sample for stale_after).",
	}, []string{"reason"})
	series := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sonde_prometheus_serve_series",
		Help: "Series currently kept by the serve sink.",
	})
	if err := pipeline.RegisterAll(reg, received, dropped, removed, series); err != nil {
		return nil, err
	}
	return &metrics{
		received:         received,
		droppedMax:       dropped.WithLabelValues("max_series"),
		droppedOOO:       dropped.WithLabelValues("out_of_order"),
		droppedNoName:    dropped.WithLabelValues("no_metric_name"),
		droppedHistogram: dropped.WithLabelValues("native_histogram"),
		removedStale:     removed.WithLabelValues("stale_marker"),
		removedExpired:   removed.WithLabelValues("expired"),
		series:           series,
	}, nil
}

// observe records one commit.
func (m *metrics) observe(samples int, r commitResult) {
	m.received.Add(float64(samples))
	m.series.Set(float64(r.series))
	if r.maxSeries > 0 {
		m.droppedMax.Add(float64(r.maxSeries))
	}
	if r.outOfOrder > 0 {
		m.droppedOOO.Add(float64(r.outOfOrder))
	}
	if r.noName > 0 {
		m.droppedNoName.Add(float64(r.noName))
	}
	if r.staleMarkers > 0 {
		m.removedStale.Add(float64(r.staleMarkers))
	}
}
