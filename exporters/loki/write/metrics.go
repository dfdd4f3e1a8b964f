package write

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are loki.write's own metrics; the controller labels them with the component id,
// and per-endpoint series carry the endpoint's name.
type metrics struct {
	received   prometheus.Counter
	sentTotal  *prometheus.CounterVec
	sentBytes  *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	retries    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	queueState *queueCollector
}

func newMetrics(endpoints func() []*endpoint) *metrics {
	return &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_write_entries_received_total",
			Help: "Log entries received for sending.",
		}),
		sentTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_write_sent_entries_total",
			Help: "Log entries Loki accepted, by endpoint.",
		}, []string{"endpoint"}),
		sentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_write_sent_bytes_total",
			Help: "Bytes of log lines (and structured metadata) Loki accepted, by endpoint, before compression.",
		}, []string{"endpoint"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_write_dropped_entries_total",
			Help: "Log entries dropped for good, by endpoint (empty: before any endpoint) and reason: what Loki's 4xx answer says (too_far_behind, out_of_order, too_old, too_new, line_too_long, invalid_labels, ...), unknown for the entries of a 400 that the answer does not account for (not confirmed stored), or invalid_labels found before sending.",
		}, []string{"endpoint", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_write_retries_total",
			Help: "Push requests retried, by endpoint and reason (http_429, http_5xx, network).",
		}, []string{"endpoint", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sonde_loki_write_request_duration_seconds",
			Help:    "Duration of push requests, by endpoint and HTTP status code (0: no response).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"endpoint", "status_code"}),
		queueState: &queueCollector{endpoints: endpoints},
	}
}

// register registers the metrics on reg; New calls it, the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.received, m.sentTotal, m.sentBytes, m.dropped, m.retries, m.duration, m.queueState} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// initEndpoint exports an endpoint's counters at 0.
func (m *metrics) initEndpoint(name string) {
	m.sentTotal.WithLabelValues(name)
	m.sentBytes.WithLabelValues(name)
	for _, r := range []string{"http_429", "http_5xx", "network"} {
		m.retries.WithLabelValues(name, r)
	}
	for _, r := range allReasons {
		m.dropped.WithLabelValues(name, r)
	}
}

var (
	queueEntriesDesc = prometheus.NewDesc("sonde_loki_write_queue_entries",
		"Log entries queued for an endpoint and not yet sent.", []string{"endpoint"}, nil)
	queueBytesDesc = prometheus.NewDesc("sonde_loki_write_queue_bytes",
		"Bytes of log lines queued (or reserved) for an endpoint; the queue_config.capacity bounds it.", []string{"endpoint"}, nil)
	queueCapacityDesc = prometheus.NewDesc("sonde_loki_write_queue_capacity_bytes",
		"The queue_config.capacity of an endpoint.", []string{"endpoint"}, nil)
	lagDesc = prometheus.NewDesc("sonde_loki_write_lag_seconds",
		"Now minus the timestamp of the oldest entry queued for an endpoint (0 when its queue is empty).", []string{"endpoint"}, nil)
)

// queueCollector reports the queues of the endpoints configured now.
type queueCollector struct {
	endpoints func() []*endpoint
}

func (qc *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueEntriesDesc
	ch <- queueBytesDesc
	ch <- queueCapacityDesc
	ch <- lagDesc
}

func (qc *queueCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, ep := range qc.endpoints() {
		entries, bytes, oldest := ep.queue.stats()
		lag := 0.0
		if !oldest.IsZero() {
			lag = max(now.Sub(oldest).Seconds(), 0)
		}
		for _, g := range []struct {
			desc  *prometheus.Desc
			value float64
		}{
			{queueEntriesDesc, float64(entries)},
			{queueBytesDesc, float64(bytes)},
			{queueCapacityDesc, float64(ep.queue.capacity)},
			{lagDesc, lag},
		} {
			if m, err := prometheus.NewConstMetric(g.desc, prometheus.GaugeValue, g.value, ep.name); err == nil {
				ch <- m
			}
		}
	}
}
