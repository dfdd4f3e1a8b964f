package base

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"

	"github.com/sondehq/sonde/internal/otelcol"
)

// metrics are an exporter's own metrics, fed by the collector exporter's instruments (see
// otelcol.MeterProvider) and by the client middleware.
type metrics struct {
	meter      *otelcol.MeterProvider
	persistent bool

	sent     *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	refused  *prometheus.CounterVec
	requests *prometheus.CounterVec
	size     *prometheus.GaugeVec
	capacity *prometheus.GaugeVec

	mu     sync.Mutex
	queues map[string]int64 // the last observed queue size, by signal
}

func newMetrics(reg prometheus.Registerer, persistent bool) *metrics {
	m := &metrics{
		persistent: persistent,
		queues:     map[string]int64{},
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_exporter_sent_total",
			Help: "Spans, metric points or log records the backend accepted, by signal.",
		}, []string{"signal"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_exporter_dropped_total",
			Help: "Spans, metric points or log records given up on, by signal and reason: rejected (the backend refused them for good: HTTP 400, 401, 404, 413, 500…), retries_exhausted (retry_on_failure.max_elapsed_time passed), shutdown (still queued in memory when the component stopped), other.",
		}, []string{"signal", "reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_exporter_refused_total",
			Help: "Spans, metric points or log records not taken because the sending queue was full; the senders were asked to retry, by signal.",
		}, []string{"signal"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_exporter_requests_total",
			Help: "Export attempts (retries included), by transport and the backend's answer (HTTP status, gRPC code name, or error when none came).",
		}, []string{"transport", "code"}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sonde_otelcol_exporter_queue_size",
			Help: "Entries in the sending queue, in the unit of sending_queue.sizer, by signal.",
		}, []string{"signal"}),
		capacity: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sonde_otelcol_exporter_queue_capacity",
			Help: "Capacity of the sending queue, in the unit of sending_queue.sizer, by signal.",
		}, []string{"signal"}),
	}
	for _, s := range otelcol.Signals {
		m.sent.WithLabelValues(s)
		m.refused.WithLabelValues(s)
		for _, r := range []string{"rejected", "retries_exhausted"} {
			m.dropped.WithLabelValues(s, r)
		}
	}
	m.meter = otelcol.NewMeterProvider(m.instruments())
	if reg != nil {
		reg.MustRegister(m.sent, m.dropped, m.refused, m.requests, m)
	}
	return m
}

// Describe and Collect make the queue gauges current on every scrape.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.size.Describe(ch)
	m.capacity.Describe(ch)
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.meter.Observe()
	m.size.Collect(ch)
	m.capacity.Collect(ch)
}

func (m *metrics) instruments() otelcol.Instruments {
	in := otelcol.Instruments{
		Counters: map[string]func(attribute.Set, int64){},
		Gauges:   map[string]func(attribute.Set, int64){},
	}
	for _, name := range otelcol.InstrumentNames("otelcol_exporter_sent_") {
		signal := otelcol.SignalOfInstrument(name)
		in.Counters[name] = func(_ attribute.Set, n int64) {
			if n > 0 {
				m.sent.WithLabelValues(signal).Add(float64(n))
			}
		}
	}
	for _, name := range otelcol.InstrumentNames("otelcol_exporter_send_failed_") {
		signal := otelcol.SignalOfInstrument(name)
		in.Counters[name] = func(attrs attribute.Set, n int64) {
			if n <= 0 {
				return
			}
			reason := m.dropReason(attrs)
			if reason == "" {
				return // kept by the persistent queue
			}
			m.dropped.WithLabelValues(signal, reason).Add(float64(n))
		}
	}
	for _, name := range otelcol.InstrumentNames("otelcol_exporter_enqueue_failed_") {
		signal := otelcol.SignalOfInstrument(name)
		in.Counters[name] = func(_ attribute.Set, n int64) {
			if n > 0 {
				m.refused.WithLabelValues(signal).Add(float64(n))
			}
		}
	}
	gauge := func(vec *prometheus.GaugeVec) func(attribute.Set, int64) {
		return func(attrs attribute.Set, v int64) {
			dt, _ := attrs.Value("data_type")
			vec.WithLabelValues(dt.AsString()).Set(float64(v))
		}
	}
	size := gauge(m.size)
	in.Gauges["otelcol_exporter_queue_size"] = func(attrs attribute.Set, v int64) {
		size(attrs, v)
		dt, _ := attrs.Value("data_type")
		m.mu.Lock()
		m.queues[dt.AsString()] = v
		m.mu.Unlock()
	}
	in.Gauges["otelcol_exporter_queue_capacity"] = gauge(m.capacity)
	return in
}

// queued returns what the sending queues hold now, requests being sent included, in the
// unit of their sizer.
func (m *metrics) queued() int64 {
	m.mu.Lock()
	clear(m.queues)
	m.mu.Unlock()
	m.meter.Observe()
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, v := range m.queues {
		n += v
	}
	return n
}

// dropReason sorts the exporter helper's failure attributes into a reason; "" when the
// data is not lost (a persistent queue keeps what shutdown interrupted).
func (m *metrics) dropReason(attrs attribute.Set) string {
	typ, _ := attrs.Value("error.type")
	perm, _ := attrs.Value("error.permanent")
	switch {
	case typ.AsString() == "Shutdown":
		if m.persistent {
			return ""
		}
		return "shutdown"
	case perm.AsBool():
		return "rejected"
	case typ.AsString() == "Canceled":
		return "other"
	default:
		return "retries_exhausted"
	}
}

func (m *metrics) countRequest(transport, code string) {
	m.requests.WithLabelValues(transport, strings.ToLower(code)).Inc()
}
