package journal

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// Reasons an entry is not forwarded (the skipped counter's reason label).
const (
	skipMalformed = "malformed"  // a line of journalctl's output that is not an entry
	skipNoMessage = "no_message" // no MESSAGE field (and format_as_json off)
	skipTooLong   = "too_long"   // an entry over maxEntryBytes of JSON
)

// metrics are loki.source.journal's own metrics; the controller labels them with the
// component id.
type metrics struct {
	read         prometheus.Counter
	forwarded    prometheus.Counter
	skipped      *prometheus.CounterVec
	binary       prometheus.Counter
	batchesAcked *prometheus.CounterVec
	exits        prometheus.Counter
	cursorWrites *prometheus.CounterVec
	delivered    prometheus.Gauge
}

func newMetrics() *metrics {
	const ns = "sonde_loki_source_journal_"
	m := &metrics{
		read: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "entries_read_total",
			Help: "Journal entries read from journalctl (skipped ones included).",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "forwarded_total",
			Help: "Lines forward_to accepted.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "skipped_total",
			Help: "Entries not forwarded, by reason (malformed: output of journalctl that is not an entry; no_message: no MESSAGE field; too_long: an entry over 8 MiB of JSON).",
		}, []string{"reason"}),
		binary: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "binary_fields_total",
			Help: "Fields that came as bytes rather than text (forwarded with invalid UTF-8 replaced).",
		}),
		batchesAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "batches_acked_total",
			Help: "Batches acknowledged by forward_to, by result (success, error).",
		}, []string{"result"}),
		exits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "journalctl_exits_total",
			Help: "Times journalctl exited (or could not start) while it should have followed the journal; it is started again with backoff.",
		}),
		cursorWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "cursor_writes_total",
			Help: "Writes of the cursor file, by result (success, error).",
		}, []string{"result"}),
		delivered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "delivered_timestamp_seconds",
			Help: "The time of the newest entry forward_to acknowledged with every entry before it.",
		}),
	}
	for _, r := range []string{skipMalformed, skipNoMessage, skipTooLong} {
		m.skipped.WithLabelValues(r)
	}
	for _, r := range []string{"success", "error"} {
		m.batchesAcked.WithLabelValues(r)
		m.cursorWrites.WithLabelValues(r)
	}
	return m
}

// register registers the metrics on reg; New calls it, the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.read, m.forwarded, m.skipped, m.binary, m.batchesAcked, m.exits, m.cursorWrites, m.delivered)
}
