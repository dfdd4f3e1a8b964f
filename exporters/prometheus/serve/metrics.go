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
	exemplars        prometheus.Counter
	exemplarsNoSer   prometheus.Counter
	removedStale     prometheus.Counter
	removedExpired   prometheus.Counter
	series           prometheus.Gauge
}

// newMetrics registers the metrics on reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	received := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sonde_prometheus_serve_samples_received_total",
		Help: "Samples (floats and native histograms) committed to the serve sink, including the dropped ones.",
	})
	exemplars := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sonde_prometheus_serve_exemplars_received_total",
		Help: "Exemplars committed to the serve sink, including the dropped ones; the latest of each series is kept.",
	})
	exemplarsDropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sonde_prometheus_serve_exemplars_dropped_total",
		Help: "Exemplars not kept, by reason: no_series (their series is not kept).",
	}, []string{"reason"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sonde_prometheus_serve_samples_dropped_total",
		Help: "Samples not kept or not served, by reason: max_series (a new series beyond max_series), out_of_order (older than the kept sample), no_metric_name, native_histogram (a kept native histogram left out of an exposition in a text format, which cannot carry it; counted per exposition).",
	}, []string{"reason"})
	removed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sonde_prometheus_serve_series_removed_total",
		Help: "Series forgotten, by reason: stale_marker (a staleness marker arrived) or expired (no sample for stale_after).",
	}, []string{"reason"})
	series := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sonde_prometheus_serve_series",
		Help: "Series currently kept by the serve sink.",
	})
	if err := pipeline.RegisterAll(reg, received, dropped, removed, series, exemplars, exemplarsDropped); err != nil {
		return nil, err
	}
	return &metrics{
		received:         received,
		droppedMax:       dropped.WithLabelValues("max_series"),
		droppedOOO:       dropped.WithLabelValues("out_of_order"),
		droppedNoName:    dropped.WithLabelValues("no_metric_name"),
		droppedHistogram: dropped.WithLabelValues("native_histogram"),
		exemplars:        exemplars,
		exemplarsNoSer:   exemplarsDropped.WithLabelValues("no_series"),
		removedStale:     removed.WithLabelValues("stale_marker"),
		removedExpired:   removed.WithLabelValues("expired"),
		series:           series,
	}, nil
}

// observe records one commit.
func (m *metrics) observe(samples, exemplars int, r commitResult) {
	m.received.Add(float64(samples))
	if exemplars > 0 {
		m.exemplars.Add(float64(exemplars))
	}
	if r.exemplarsNoSeries > 0 {
		m.exemplarsNoSer.Add(float64(r.exemplarsNoSeries))
	}
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
