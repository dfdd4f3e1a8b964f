package process

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sondehq/sonde/pipeline"
)

// metrics are loki.process's own metrics; the controller labels them with the component id.
// A batch counts locally (batchCounts) and adds its counts once, so the per-line path
// touches no shared counter.
type metrics struct {
	received prometheus.Counter
	sent     prometheus.Counter
	dropped  *prometheus.CounterVec
	failures *prometheus.CounterVec
	held     prometheus.GaugeFunc
}

func newMetrics(held func() float64) *metrics {
	m := &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_process_entries_received_total",
			Help: "Log entries received for processing.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_process_entries_sent_total",
			Help: "Log entries forwarded after processing (a multiline block counts once).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_process_dropped_entries_total",
			Help: "Log entries dropped by a stage, by reason: the drop_counter_reason of drop and match stages (drop_stage, match_stage by default), limit, malformed_json.",
		}, []string{"reason"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_process_stage_failures_total",
			Help: "Entries a stage could not parse and passed on unchanged, by stage type (json, logfmt, timestamp).",
		}, []string{"stage"}),
		held: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sonde_loki_process_multiline_held_entries",
			Help: "Lines held in multiline blocks that are not sent yet.",
		}, held),
	}
	for _, s := range []string{"json", "logfmt", "timestamp"} {
		m.failures.WithLabelValues(s) // exported at 0 from the start
	}
	return m
}

// register registers the metrics on reg; New calls it, the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.received, m.sent, m.dropped, m.failures, m.held)
}

// reasonCount is one counter increment waiting to be added.
type reasonCount struct {
	reason string
	n      int
}

// batchCounts are one batch's tallies.
type batchCounts struct {
	dropped  []reasonCount
	failures []reasonCount
}

func bump(list []reasonCount, reason string) []reasonCount {
	for i := range list {
		if list[i].reason == reason {
			list[i].n++
			return list
		}
	}
	return append(list, reasonCount{reason: reason, n: 1})
}

// add adds c to the metrics and resets it.
func (m *metrics) add(c *batchCounts) {
	for _, d := range c.dropped {
		m.dropped.WithLabelValues(d.reason).Add(float64(d.n))
	}
	for _, f := range c.failures {
		m.failures.WithLabelValues(f.reason).Add(float64(f.n))
	}
	c.dropped, c.failures = c.dropped[:0], c.failures[:0]
}
