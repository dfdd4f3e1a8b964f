package promrelabel

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are prometheus.relabel's own metrics; the controller labels them with the
// component id. Appenders count locally and add their counts on Commit or Rollback, so
// the hot path touches no shared counter.
type metrics struct {
	reg         prometheus.Registerer
	samplesIn   prometheus.Counter
	samplesOut  prometheus.Counter
	dropped     *prometheus.CounterVec
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	cacheSize   prometheus.GaugeFunc
}

func newMetrics(cacheLen func() float64) *metrics {
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
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.samplesIn, m.samplesOut, m.dropped, m.cacheHits, m.cacheMisses, m.cacheSize}
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
