package kafka

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Kafka-specific metrics; the sent, dropped and queue metrics every OTLP
// exporter has come from base.
type metrics struct {
	messages *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	failed   *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	buffered func() int64
}

func newMetrics() *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_exporter_kafka_messages_total",
			Help: "Messages Kafka acknowledged (acks=all), by topic.",
		}, []string{"topic"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_exporter_kafka_bytes_total",
			Help: "Bytes of the keys and values of the messages Kafka acknowledged, before compression, by topic.",
		}, []string{"topic"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_exporter_kafka_produce_failures_total",
			Help: "Messages whose produce failed, retried or not, by topic and error (a Kafka error code in lower case, timeout, canceled, max_buffered, retries_exhausted or other).",
		}, []string{"topic", "error"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_exporter_kafka_dropped_total",
			Help: "Spans, metric points or log records dropped from a request whose other messages were written, by signal and reason: message_too_large (one item alone exceeds producer.max_message_bytes), rejected (Kafka refused the message for good). A request dropped as a whole is counted in sonde_otelcol_exporter_dropped_total.",
		}, []string{"signal", "reason"}),
	}
	for _, s := range []string{"traces", "metrics", "logs"} {
		for _, r := range []string{"message_too_large", "rejected"} {
			m.dropped.WithLabelValues(s, r)
		}
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.messages, m.bytes, m.failed, m.dropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sonde_otelcol_exporter_kafka_buffered_records",
			Help: "Messages handed to the Kafka client and not yet acknowledged or failed.",
		}, func() float64 { return float64(m.buffered()) }),
	}
}

func (m *metrics) produced(topic string, bytes int) {
	m.messages.WithLabelValues(topic).Inc()
	m.bytes.WithLabelValues(topic).Add(float64(bytes))
}
