package remotewrite

import (
	"errors"
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
)

type metrics struct {
	samplesAppended  prometheus.Counter
	samplesIn        prometheus.Counter
	samplesSent      prometheus.Counter
	samplesFailed    prometheus.Counter
	samplesRetried   prometheus.Counter
	samplesDropped   *prometheus.CounterVec
	exemplarsDropped *prometheus.CounterVec
	metadataDropped  *prometheus.CounterVec
	metadataSent     prometheus.Counter
	metadataNames    prometheus.Gauge
	sentBytes        prometheus.Counter
	requests         *prometheus.CounterVec
	requestDuration  prometheus.Histogram
	pendingSamples   prometheus.Gauge
	shards           prometheus.Gauge

	highestSent       prometheus.Gauge
	highestAppended   prometheus.Gauge
	lastSendError     prometheus.Gauge
	highestSentMs     atomic.Int64
	highestAppendedMs atomic.Int64

	activeSeries   prometheus.Gauge
	seriesCreated  prometheus.Counter
	seriesRemoved  prometheus.Counter
	walSize        prometheus.Gauge
	walSegments    prometheus.Gauge
	walCorruptions prometheus.Counter
	truncations    prometheus.Counter
	truncateFails  prometheus.Counter
	markerFails    prometheus.Counter
}

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
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
		register(c)
		return c
	}
	requestDuration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
		Help:    "Duration of remote-write requests.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	register(requestDuration)
	m := &metrics{
		samplesAppended:  counter("samples_appended_total", "Samples committed to the WAL."),
		samplesIn:        counter("samples_in_total", "Samples read from the WAL into the send queue."),
		samplesSent:      counter("samples_sent_total", "Samples acknowledged by the receiver."),
		samplesFailed:    counter("samples_failed_total", "Samples in send attempts that failed (retried or dropped)."),
		samplesRetried:   counter("samples_retried_total", "Samples sent again after a failed attempt."),
		samplesDropped:   counterVec("samples_dropped_total", "Samples dropped, by reason.", "reason"),
		exemplarsDropped: counterVec("exemplars_dropped_total", "Exemplars dropped, by reason.", "reason"),
		metadataDropped:  counterVec("metadata_dropped_total", "Metric family metadata not delivered, by reason.", "reason"),
		metadataSent:     counter("metadata_sent_total", "Metric family metadata accepted by the receiver (all families every send interval)."),
		metadataNames:    gauge("metadata_names", "Metric names whose metadata is held in memory."),
		sentBytes:        counter("sent_bytes_total", "Compressed request bytes acknowledged by the receiver."),
		requests: counterVec("requests_total",
			"Remote-write requests by outcome: the HTTP status code, or \"error\" when no response came.", "code"),
		requestDuration: requestDuration,
		pendingSamples:  gauge("pending_samples", "Samples read from the WAL and not yet acknowledged."),
		shards:          gauge("shards", "Number of send shards."),
		highestSent:     gauge("highest_sent_timestamp_seconds", "Newest sample timestamp acknowledged by the receiver."),
		highestAppended: gauge("highest_appended_timestamp_seconds", "Newest sample timestamp committed to the WAL."),
		lastSendError:   gauge("last_send_error_timestamp_seconds", "When a send attempt last failed (Unix seconds)."),
		activeSeries:    gauge("active_series", "Series held in memory."),
		seriesCreated:   counter("series_created_total", "Series created in memory."),
		seriesRemoved:   counter("series_removed_total", "Idle series garbage-collected from memory."),
		walSize:         gauge("wal_size_bytes", "Size of the WAL on disk, checkpoint included."),
		walSegments:     gauge("wal_segments", "Number of WAL segments on disk."),
		walCorruptions:  counter("wal_corruptions_total", "Corrupt WAL segments found (data after the damage is skipped)."),
		truncations:     counter("wal_truncations_total", "WAL truncations (checkpoint and segment deletion) done."),
		truncateFails:   counter("wal_truncation_failures_total", "WAL truncations that failed."),
		markerFails:     counter("marker_write_failures_total", "Failed writes of the acknowledged-position marker file."),
	}
	m.highestSentMs.Store(minTimestamp)
	m.highestAppendedMs.Store(minTimestamp)
	return m, errors.Join(errs...)
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
