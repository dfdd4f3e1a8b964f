package memorylimiter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/internal/otelcol"
)

type metrics struct {
	refused *prometheus.CounterVec
	heap    prometheus.Gauge
	gcs     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, c *Component) *metrics {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_processor_memory_limiter_refused_total",
			Help: "Spans, metric points or log records refused while over the soft limit (senders were asked to retry later), by signal.",
		}, []string{"signal"}),
		heap: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_otelcol_processor_memory_limiter_heap_bytes",
			Help: "Go heap in use at the last check.",
		}),
		gcs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_otelcol_processor_memory_limiter_forced_gc_total",
			Help: "Garbage collections forced because the heap was above the hard limit.",
		}),
	}
	for _, s := range otelcol.Signals {
		m.refused.WithLabelValues(s)
	}
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sonde_otelcol_processor_memory_limiter_limit_bytes",
		Help: "Hard memory limit.",
	}, func() float64 { return float64(c.cfg.Load().hard) })
	soft := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sonde_otelcol_processor_memory_limiter_soft_limit_bytes",
		Help: "Soft memory limit (limit - spike_limit): data is refused above it.",
	}, func() float64 { return float64(c.cfg.Load().soft) })
	refusing := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sonde_otelcol_processor_memory_limiter_refusing",
		Help: "1 while data is refused.",
	}, func() float64 {
		if c.refusing.Load() {
			return 1
		}
		return 0
	})
	if reg != nil {
		reg.MustRegister(m.refused, m.heap, m.gcs, limit, soft, refusing)
	}
	return m
}
