package file

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/components/loki/source/file/decode"
	"github.com/sondehq/sonde/pipeline"
)

// metrics are loki.source.file's own metrics; the controller labels them with the component
// id. No metric has a per-file label: a node tails thousands of files.
type metrics struct {
	readLines      prometheus.Counter
	readBytes      prometheus.Counter
	entriesSent    prometheus.Counter
	batchesSent    prometheus.Counter
	batchesAcked   *prometheus.CounterVec // result
	oversized      prometheus.Counter
	malformed      *prometheus.CounterVec // reason
	truncated      prometheus.Counter
	droppedBytes   *prometheus.CounterVec // reason
	partialFlushes *prometheus.CounterVec // reason
	filesOpened    prometheus.Counter
	filesReleased  *prometheus.CounterVec // reason
	truncations    prometheus.Counter
	fileErrors     *prometheus.CounterVec // reason
	positionWrites *prometheus.CounterVec // result
	positionsBad   prometheus.Counter
	filesActive    prometheus.Gauge
	unreadBytes    prometheus.GaugeFunc // computed when scraped
	lagBytes       prometheus.Gauge
	watchedDirs    prometheus.Gauge
	podMissing     prometheus.Counter
	podWaiting     prometheus.Gauge
}

// newMetrics returns the metrics; unread computes unread_bytes when it is scraped.
func newMetrics(unread func() float64) *metrics {
	const ns = "sonde_loki_source_file_"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: ns + name, Help: help})
	}
	vec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + name, Help: help}, []string{label})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + name, Help: help})
	}
	m := &metrics{
		readLines:      counter("read_lines_total", "Physical lines read from files."),
		readBytes:      counter("read_bytes_total", "Bytes read from files (complete lines)."),
		entriesSent:    counter("entries_sent_total", "Entries in batches accepted by forward_to."),
		batchesSent:    counter("batches_sent_total", "Batches accepted by forward_to."),
		batchesAcked:   vec("batches_acknowledged_total", "Batches acknowledged by forward_to, by result (error: given up downstream, counted there).", "result"),
		oversized:      counter("oversized_entries_total", "Entries larger than batch_size, sent whole in a batch of their own."),
		malformed:      vec("malformed_lines_total", "Lines skipped because they match neither the file's format, by reason.", "reason"),
		truncated:      counter("truncated_lines_total", "Entries cut at max_line_size."),
		droppedBytes:   vec("dropped_bytes_total", "Bytes read but not sent, by reason (malformed lines, truncation).", "reason"),
		partialFlushes: vec("partial_flushes_total", "Partial lines sent without their end, by reason (timeout, or the file ended).", "reason"),
		filesOpened:    counter("files_opened_total", "Files opened for tailing."),
		filesReleased:  vec("files_released_total", "Files closed after being drained, by reason (deleted, or no longer matched, e.g. rotated).", "reason"),
		truncations:    counter("truncations_total", "Files found truncated or rewritten (copytruncate) and read again from the start."),
		fileErrors:     vec("file_errors_total", "Errors opening, reading or watching files, by reason.", "reason"),
		positionWrites: vec("positions_writes_total", "Writes of the positions file, by result.", "result"),
		positionsBad:   counter("positions_corrupt_entries_total", "Entries of the positions file that could not be read at start-up."),
		filesActive:    gauge("files_active", "Files open for tailing, rotated ones being drained included."),
		unreadBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: ns + "unread_bytes",
			Help: "Bytes of the tailed files not read yet (sum of size minus read offset), as the files are when scraped.",
		}, unread),
		lagBytes:    gauge("positions_lag_bytes", "Bytes read and handed downstream but not acknowledged yet."),
		watchedDirs: gauge("watched_directories", "Directories watched with fsnotify."),
		podMissing:  counter("pod_metadata_missing_total", "Files read without pod_labels/pod_annotations because their pod was not in the pod cache within pod_wait (or the cache had not listed the pods)."),
		podWaiting:  gauge("pod_waiting_files", "Files waiting (at most pod_wait) for their pod to be in the pod cache before their first read."),
	}
	for r := range decode.NumReasons {
		m.malformed.WithLabelValues(r.String())
	}
	return m
}

// register registers the metrics on reg; New calls it, the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg,
		m.readLines, m.readBytes, m.entriesSent, m.batchesSent, m.batchesAcked, m.oversized, m.malformed, m.truncated,
		m.droppedBytes, m.partialFlushes, m.filesOpened, m.filesReleased, m.truncations, m.fileErrors,
		m.positionWrites, m.positionsBad, m.filesActive, m.unreadBytes, m.lagBytes, m.watchedDirs, m.podMissing,
		m.podWaiting)
}

// addStats moves a decoder's counters into the metrics and resets them.
func (m *metrics) addStats(st *decode.Stats) {
	m.readLines.Add(float64(st.Lines))
	for r := range decode.NumReasons {
		if n := st.Malformed[r]; n > 0 {
			m.malformed.WithLabelValues(r.String()).Add(float64(n))
		}
	}
	if st.Truncated > 0 {
		m.truncated.Add(float64(st.Truncated))
	}
	if st.MalformedBytes > 0 {
		m.droppedBytes.WithLabelValues("malformed").Add(float64(st.MalformedBytes))
	}
	if st.TruncatedBytes > 0 {
		m.droppedBytes.WithLabelValues("truncated").Add(float64(st.TruncatedBytes))
	}
	*st = decode.Stats{}
}
