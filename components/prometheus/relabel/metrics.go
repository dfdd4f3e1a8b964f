package promrelabel

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// metrics are prometheus.relabel's own metrics; the controller labels them with the
// component id. Appenders count locally and add their counts on Commit or Rollback, so
// the hot path touches no shared counter.
type metrics struct {
	samplesIn   prometheus.Counter
	samplesOut  prometheus.Counter
	dropped     *prometheus.CounterVec
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	cacheSize   prometheus.GaugeFunc
}

// newMetrics registers the metrics on reg (nil: none).
func newMetrics(reg prometheus.Registerer, cacheLen func() float64) (*metrics, error) {
	m := &metrics{
		samplesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_prometheus_relabel_samples_in_total",
			Help: "Samples (floats and histograms) received for relabelling.",
		}),
		samplesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_prometheus_relabel_samples_out_total",
			Help: "Samples forwarded after relabelling.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_prometheus_relabel_samples_dropped_total",
			Help: "Samples not forwarded, by reason: rules (the rules dropped the series or removed all its labels).",
		}, []string{"reason"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_prometheus_relabel_cache_hits_total",
			Help: "Relabelling results found in the cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_prometheus_relabel_cache_misses_total",
			Help: "Relabelling results computed because they were not cached.",
		}),
		cacheSize: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sonde_prometheus_relabel_cache_entries",
			Help: "Relabelling results currently cached.",
		}, cacheLen),
	}
	m.dropped.WithLabelValues("rules") // exported at 0 from the start
	return m, pipeline.RegisterAll(reg, m.samplesIn, m.samplesOut, m.dropped, m.cacheHits, m.cacheMisses, m.cacheSize)
}

// counts are one appender's tallies, added to the metrics when the appender ends.
type counts struct {
	in, out, dropped, hits, misses int
}

func (m *metrics) add(c *counts) {
	if c.in > 0 {
		m.samplesIn.Add(float64(c.in))
	}
	if c.out > 0 {
		m.samplesOut.Add(float64(c.out))
	}
	if c.dropped > 0 {
		m.dropped.WithLabelValues("rules").Add(float64(c.dropped))
	}
	if c.hits > 0 {
		m.cacheHits.Add(float64(c.hits))
	}
	if c.misses > 0 {
		m.cacheMisses.Add(float64(c.misses))
	}
	*c = counts{}
}
