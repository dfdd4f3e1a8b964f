package remotewrite

import (
	"time"

	"github.com/sondehq/sonde/pipeline"
)

var _ pipeline.DebugInfoProvider = (*Component)(nil)

// DebugInfo is what prometheus.remote_write reports about its WAL and its sending in the
// UI and under `debug` in GET /api/v1/components/<id>.
type DebugInfo struct {
	// URL is the receiver's URL with its password, if any, replaced by "xxxxx".
	URL string `json:"url"`
	// WAL and Marker are absent while the component is not running.
	WAL    *WALDebugInfo    `json:"wal,omitempty"`
	Marker *MarkerDebugInfo `json:"marker,omitempty"`
	// PendingSamples are read from the WAL and not yet acknowledged.
	PendingSamples int64 `json:"pending_samples"`
	Shards         int   `json:"shards"`
	// ShardsFailing are the shards whose current request has failed and not yet succeeded.
	ShardsFailing int `json:"shards_failing"`
	// LastSuccess is when the receiver last accepted a request; absent until then.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// LastError is the last failed request's error, retried or rejected; it stays after the
	// receiver recovers (compare LastErrorAt with LastSuccess).
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// LastStatusCode is the HTTP status of the last failed request (0: no response).
	LastStatusCode int `json:"last_status_code,omitempty"`
	// Retries counts the requests sent again after a failure since the component started.
	Retries uint64 `json:"retries"`
	// HighestAppended and HighestSent are the newest sample timestamps committed to the WAL
	// and acknowledged by the receiver; LagSeconds is the difference, once both are known.
	HighestAppended *time.Time `json:"highest_appended_timestamp,omitempty"`
	HighestSent     *time.Time `json:"highest_sent_timestamp,omitempty"`
	LagSeconds      *float64   `json:"lag_seconds,omitempty"`
}

// WALDebugInfo describes the WAL on disk.
type WALDebugInfo struct {
	// SizeBytes counts the segments and the checkpoint.
	SizeBytes    int64 `json:"size_bytes"`
	Segments     int   `json:"segments"`
	FirstSegment int   `json:"first_segment"`
	// LastSegment is the segment being written.
	LastSegment int `json:"last_segment"`
}

// MarkerDebugInfo is the acknowledged position: every sample in the WAL before it was
// acknowledged or dropped. It is saved after every acknowledged batch and fsynced at most
// once a second.
type MarkerDebugInfo struct {
	Segment int   `json:"segment"`
	Offset  int64 `json:"offset"`
	// SegmentsBehind is the WAL's last segment minus the marker's.
	SegmentsBehind int `json:"segments_behind"`
}

// DebugInfo implements pipeline.DebugInfoProvider. Nothing it does waits for an append or
// a request: it lists the WAL directory, reads atomics, and holds the acknowledgement
// tracker's and the status' locks for a moment.
func (c *Component) DebugInfo() any {
	info := DebugInfo{URL: c.currentArgs().Endpoint.URL.Redacted()}
	if w := c.wal.Load(); w != nil {
		info.WAL = w.debugInfo()
	}
	if s := c.snd.Load(); s != nil {
		info.URL = s.url
		info.PendingSamples = s.pending.Load()
		info.Shards = len(s.shards)
		info.ShardsFailing = int(s.failing.Load())
		acked := s.tracker.position()
		info.Marker = &MarkerDebugInfo{Segment: acked.Segment, Offset: acked.Offset}
		if info.WAL != nil {
			info.Marker.SegmentsBehind = max(info.WAL.LastSegment-acked.Segment, 0)
		}
	}

	st := c.status.Info()
	info.LastSuccess = st.LastSuccess
	info.LastError, info.LastErrorAt, info.LastStatusCode = st.LastError, st.LastErrorAt, st.LastStatusCode
	info.Retries = st.Retries

	appended, sent := c.m.highestAppendedMs.Load(), c.m.highestSentMs.Load()
	if appended != minTimestamp {
		info.HighestAppended = new(time.UnixMilli(appended).UTC())
	}
	if sent != minTimestamp {
		info.HighestSent = new(time.UnixMilli(sent).UTC())
	}
	if appended != minTimestamp && sent != minTimestamp {
		lag := max(float64(appended-sent)/1000, 0)
		info.LagSeconds = &lag
	}
	return info
}

// debugInfo lists the WAL directory; nil when it cannot be read.
func (w *walStorage) debugInfo() *WALDebugInfo {
	segs, err := w.segments()
	if err != nil {
		return nil
	}
	d := &WALDebugInfo{SizeBytes: w.size(), Segments: len(segs)}
	if len(segs) > 0 {
		d.FirstSegment, d.LastSegment = segs[0].index, segs[len(segs)-1].index
	}
	return d
}
