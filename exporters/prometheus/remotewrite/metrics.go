package remotewrite

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons for dropped data (label "reason" of the dropped counters).
const (
	reasonOutOfOrder    = "out_of_order"        // older than the newest sample of its series
	reasonDuplicate     = "duplicate_timestamp" // same timestamp as the newest sample of its series
	reasonUnsupported   = "unsupported"         // native histograms, exemplars
	reasonHTTP4xx       = "http_4xx"            // rejected by the receiver with a non-retryable status
	reasonUnknownSeries = "unknown_series"      // a WAL sample whose series record is lost
	reasonMaxAge        = "max_age"             // WAL segment older than wal.max_age
	reasonMaxSize       = "max_size"            // WAL larger than wal.max_size
	reasonWALWrite      = "wal_write"           // the WAL could not be written
	reasonClosed        = "closed"              // committed while the component was stopping
	reasonSuperseded    = "superseded"          // metadata not delivered before the next send interval resent it
	reasonPartialWrite  = "partial_write"       // a 2xx whose *-Written headers count fewer samples than sent
	reasonNoSample      = "no_sample"           // 2.0: an exemplar whose series' sample went in another request
)

// metrics are the component's: the WAL's, and through the vectors labelled endpoint, each
// endpoint's (forEndpoint).
type metrics struct {
	samplesAppended   prometheus.Counter
	exemplarsAppended prometheus.Counter
	samplesDropped    *prometheus.CounterVec // reason, endpoint ("" for the WAL's reasons)
	exemplarsDropped  *prometheus.CounterVec
	metadataNames     prometheus.Gauge

	highestAppended   prometheus.Gauge
	highestAppendedMs atomic.Int64

	activeSeries   prometheus.Gauge
	seriesCreated  prometheus.Counter
	seriesRemoved  prometheus.Counter
	walSize        prometheus.Gauge
	walSegments    prometheus.Gauge
	walCorruptions prometheus.Counter
	truncations    prometheus.Counter
	truncateFails  prometheus.Counter

	// By endpoint.
	samplesIn         *prometheus.CounterVec
	samplesSent       *prometheus.CounterVec
	exemplarsSent     *prometheus.CounterVec
	samplesFailed     *prometheus.CounterVec
	samplesRetried    *prometheus.CounterVec
	samplesFiltered   *prometheus.CounterVec
	sentBytes         *prometheus.CounterVec
	requests          *prometheus.CounterVec // endpoint, code
	requestDuration   *prometheus.HistogramVec
	pendingSamples    *prometheus.GaugeVec
	shards            *prometheus.GaugeVec
	highestSent       *prometheus.GaugeVec
	lastSendError     *prometheus.GaugeVec
	markerFails       *prometheus.CounterVec
	metadataSent      *prometheus.CounterVec
	metadataDropped   *prometheus.CounterVec // reason, endpoint
	protocol          *prometheus.GaugeVec   // endpoint, protobuf_message
	protocolFallbacks *prometheus.CounterVec
	reshards          *prometheus.CounterVec
	vecs              []interface{ DeletePartialMatch(prometheus.Labels) int }

	endpoints sync.Map // name → *endpointMetrics
}

// endpointMetrics are one endpoint's series of the metrics.
type endpointMetrics struct {
	name            string
	samplesIn       prometheus.Counter
	samplesSent     prometheus.Counter
	exemplarsSent   prometheus.Counter
	samplesFailed   prometheus.Counter
	samplesRetried  prometheus.Counter
	samplesFiltered prometheus.Counter
	samplesDropped  *prometheus.CounterVec // by reason
	sentBytes       prometheus.Counter
	requests        *prometheus.CounterVec // by code
	requestDuration prometheus.Observer
	pendingSamples  prometheus.Gauge
	shards          prometheus.Gauge
	highestSent     prometheus.Gauge
	highestSentMs   atomic.Int64
	lastSendError   prometheus.Gauge
	markerFails     prometheus.Counter
	metadataSent    prometheus.Counter
	metadataDropped *prometheus.CounterVec // by reason
	// protocol is 1 for the protobuf_message in use (curried: label protobuf_message).
	protocol          *prometheus.GaugeVec
	protocolFallbacks prometheus.Counter
	reshards          prometheus.Counter
}

// endpointLabel is the label that tells the endpoints' series apart: the endpoint's name,
// by default its URL with the password redacted.
const endpointLabel = "endpoint"

// newMetrics builds the metrics and registers them on reg (nil: none).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "sonde", "remote_write"
	var errs []error
	register := func(c prometheus.Collector) {
		if reg != nil {
			errs = append(errs, reg.Register(c))
		}
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
		register(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
		register(g)
		return g
	}
	m := &metrics{}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
		register(c)
		m.vecs = append(m.vecs, c)
		return c
	}
	gaugeVec := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{endpointLabel})
		register(g)
		m.vecs = append(m.vecs, g)
		return g
	}
	requestDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
		Help:    "Duration of remote-write requests, by endpoint.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{endpointLabel})
	register(requestDuration)
	m.vecs = append(m.vecs, requestDuration)

	m.samplesAppended = counter("samples_appended_total", "Samples (native histograms included) committed to the WAL.")
	m.exemplarsAppended = counter("exemplars_appended_total", "Exemplars committed to the WAL.")
	m.samplesDropped = counterVec("samples_dropped_total",
		"Samples dropped, by reason, and by endpoint for the reasons of one endpoint (http_4xx, partial_write, max_age, max_size, unknown_series).",
		"reason", endpointLabel)
	m.exemplarsDropped = counterVec("exemplars_dropped_total", "Exemplars dropped, by reason.", "reason")
	m.metadataNames = gauge("metadata_names", "Metric names whose metadata is held in memory.")
	m.highestAppended = gauge("highest_appended_timestamp_seconds", "Newest sample timestamp committed to the WAL.")
	m.activeSeries = gauge("active_series", "Series held in memory.")
	m.seriesCreated = counter("series_created_total", "Series created in memory.")
	m.seriesRemoved = counter("series_removed_total", "Idle series garbage-collected from memory.")
	m.walSize = gauge("wal_size_bytes", "Size of the WAL on disk, checkpoint included.")
	m.walSegments = gauge("wal_segments", "Number of WAL segments on disk.")
	m.walCorruptions = counter("wal_corruptions_total", "Corrupt WAL segments found (data after the damage is skipped).")
	m.truncations = counter("wal_truncations_total", "WAL truncations (checkpoint and segment deletion) done.")
	m.truncateFails = counter("wal_truncation_failures_total", "WAL truncations that failed.")

	m.samplesIn = counterVec("samples_in_total", "Samples read from the WAL into the send queue, by endpoint.", endpointLabel)
	m.samplesSent = counterVec("samples_sent_total", "Samples (native histograms included) acknowledged by the receiver, by endpoint.", endpointLabel)
	m.exemplarsSent = counterVec("exemplars_sent_total", "Exemplars acknowledged by the receiver, by endpoint.", endpointLabel)
	m.samplesFailed = counterVec("samples_failed_total", "Samples in send attempts that failed (retried or dropped), by endpoint.", endpointLabel)
	m.samplesRetried = counterVec("samples_retried_total", "Samples sent again after a failed attempt, by endpoint.", endpointLabel)
	m.samplesFiltered = counterVec("samples_filtered_total",
		"Samples not sent because the endpoint's write_relabel_configs drop their series, by endpoint.", endpointLabel)
	m.sentBytes = counterVec("sent_bytes_total", "Compressed request bytes acknowledged by the receiver, by endpoint.", endpointLabel)
	m.requests = counterVec("requests_total",
		"Remote-write requests of samples by endpoint and outcome: the HTTP status code, or \"error\" when no response came.",
		endpointLabel, "code")
	m.requestDuration = requestDuration
	m.pendingSamples = gaugeVec("pending_samples", "Samples read from the WAL and not yet acknowledged, by endpoint.")
	m.shards = gaugeVec("shards", "Number of send shards, by endpoint.")
	m.highestSent = gaugeVec("highest_sent_timestamp_seconds", "Newest sample timestamp acknowledged by the receiver, by endpoint.")
	m.lastSendError = gaugeVec("last_send_error_timestamp_seconds", "When a send attempt last failed (Unix seconds), by endpoint.")
	m.markerFails = counterVec("marker_write_failures_total", "Failed writes of the acknowledged-position marker file, by endpoint.", endpointLabel)
	m.metadataSent = counterVec("metadata_sent_total",
		"Metric family metadata accepted by the receiver (all families every send interval), by endpoint.", endpointLabel)
	m.metadataDropped = counterVec("metadata_dropped_total", "Metric family metadata not delivered, by endpoint and reason.",
		"reason", endpointLabel)
	m.protocol = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "protocol_info",
		Help: "1 for the remote-write protobuf message each endpoint sends now (protobuf_message: prometheus.WriteRequest is 1.0, io.prometheus.write.v2.Request 2.0)."},
		[]string{endpointLabel, "protobuf_message"})
	register(m.protocol)
	m.vecs = append(m.vecs, m.protocol)
	m.protocolFallbacks = counterVec("protocol_fallbacks_total",
		"Times an endpoint with protobuf_message auto fell back from remote write 2.0 to 1.0 (once per process at most), by endpoint.", endpointLabel)
	m.reshards = counterVec("reshards_total", "Times an endpoint's shard count changed to follow the load (shards shows the count), by endpoint.", endpointLabel)
	m.highestAppendedMs.Store(minTimestamp)
	return m, errors.Join(errs...)
}

// forEndpoint returns the metrics of the endpoint called name, the same for every call with
// that name until deleteEndpoint.
func (m *metrics) forEndpoint(name string) *endpointMetrics {
	if em, ok := m.endpoints.Load(name); ok {
		return em.(*endpointMetrics)
	}
	l := prometheus.Labels{endpointLabel: name}
	em := &endpointMetrics{
		name:              name,
		samplesIn:         m.samplesIn.With(l),
		samplesSent:       m.samplesSent.With(l),
		exemplarsSent:     m.exemplarsSent.With(l),
		reshards:          m.reshards.With(l),
		samplesFailed:     m.samplesFailed.With(l),
		samplesRetried:    m.samplesRetried.With(l),
		samplesFiltered:   m.samplesFiltered.With(l),
		samplesDropped:    m.samplesDropped.MustCurryWith(l),
		sentBytes:         m.sentBytes.With(l),
		requests:          m.requests.MustCurryWith(l),
		requestDuration:   m.requestDuration.With(l),
		pendingSamples:    m.pendingSamples.With(l),
		shards:            m.shards.With(l),
		highestSent:       m.highestSent.With(l),
		lastSendError:     m.lastSendError.With(l),
		markerFails:       m.markerFails.With(l),
		metadataSent:      m.metadataSent.With(l),
		metadataDropped:   m.metadataDropped.MustCurryWith(l),
		protocol:          m.protocol.MustCurryWith(l),
		protocolFallbacks: m.protocolFallbacks.With(l),
	}
	em.highestSentMs.Store(minTimestamp)
	actual, _ := m.endpoints.LoadOrStore(name, em)
	return actual.(*endpointMetrics)
}

// deleteEndpoint removes the series of an endpoint that is no longer configured.
func (m *metrics) deleteEndpoint(name string) {
	m.endpoints.Delete(name)
	for _, v := range m.vecs {
		v.DeletePartialMatch(prometheus.Labels{endpointLabel: name})
	}
}

// walDropped counts samples the WAL dropped (no endpoint) for reason.
func (m *metrics) walDropped(reason string) prometheus.Counter {
	return m.samplesDropped.WithLabelValues(reason, "")
}

// observeMax raises cur to ms if ms is newer and mirrors it (in seconds) into g.
func observeMax(cur *atomic.Int64, g prometheus.Gauge, ms int64) {
	for {
		old := cur.Load()
		if ms <= old {
			return
		}
		if cur.CompareAndSwap(old, ms) {
			g.Set(float64(cur.Load()) / 1000) // the newest value even if another writer raced us
			return
		}
	}
}
