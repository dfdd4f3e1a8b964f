package write

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are elasticsearch.write's own metrics; the controller labels them with the
// component id.
type metrics struct {
	received  prometheus.Counter
	sent      prometheus.Counter
	sentBytes prometheus.Counter
	dropped   *prometheus.CounterVec
	retried   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	queue     *queueCollector
}

func newMetrics(q *queue) *metrics {
	m := &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_elasticsearch_write_entries_received_total",
			Help: "Log entries received for sending.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_elasticsearch_write_sent_entries_total",
			Help: "Log entries Elasticsearch stored (a 2xx result in the bulk answer).",
		}),
		sentBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_elasticsearch_write_sent_bytes_total",
			Help: "Bytes of bulk request bodies sent (retries included), as sent (after compression).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_elasticsearch_write_dropped_entries_total",
			Help: "Log entries dropped for good, by reason: a document the bulk answer refused (mapping: 400, conflict: 409, forbidden: 401/403, not_found: 404, rejected: another 4xx), or a whole request refused (unauthorized: 401/403, request_too_large: 413, bad_request: another 4xx).",
		}, []string{"reason"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_elasticsearch_write_retried_entries_total",
			Help: "Log entries sent again, by reason: the whole request answered 429 (http_429) or 5xx (http_5xx) or not answered (network); a document the bulk answer rejected with 429 (item_429) or 5xx (item_5xx); a document it said nothing of (incomplete); a 2xx answer that is not a bulk answer (bad_answer).",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sonde_elasticsearch_write_request_duration_seconds",
			Help:    "Duration of bulk requests, by HTTP status code (0: no response).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"status_code"}),
		queue: &queueCollector{q: q},
	}
	for _, r := range allReasons {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range allRetryReasons {
		m.retried.WithLabelValues(r)
	}
	return m
}

// register registers the metrics on reg; New calls it, the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.received, m.sent, m.sentBytes, m.dropped, m.retried, m.duration, m.queue} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var (
	queueEntriesDesc = prometheus.NewDesc("sonde_elasticsearch_write_queue_entries",
		"Log entries queued and not yet stored or dropped.", nil, nil)
	queueBytesDesc = prometheus.NewDesc("sonde_elasticsearch_write_queue_bytes",
		"Weight of the batches queued (lines, labels, metadata and JSON overhead); queue_config.capacity bounds it.", nil, nil)
	queueCapacityDesc = prometheus.NewDesc("sonde_elasticsearch_write_queue_capacity_bytes",
		"The queue_config.capacity.", nil, nil)
	lagDesc = prometheus.NewDesc("sonde_elasticsearch_write_lag_seconds",
		"Now minus the timestamp of the oldest entry queued (0 when the queue is empty).", nil, nil)
)

// queueCollector reports the queue.
type queueCollector struct{ q *queue }

func (qc *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueEntriesDesc
	ch <- queueBytesDesc
	ch <- queueCapacityDesc
	ch <- lagDesc
}

func (qc *queueCollector) Collect(ch chan<- prometheus.Metric) {
	entries, bytes, capacity, oldest := qc.q.stats()
	lag := 0.0
	if !oldest.IsZero() {
		lag = max(time.Since(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(queueEntriesDesc, prometheus.GaugeValue, float64(entries))
	ch <- prometheus.MustNewConstMetric(queueBytesDesc, prometheus.GaugeValue, float64(bytes))
	ch <- prometheus.MustNewConstMetric(queueCapacityDesc, prometheus.GaugeValue, float64(capacity))
	ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag)
}
