package remotewrite

import (
	"time"

	"github.com/sondehq/sonde/pipeline"
)

var _ pipeline.DebugInfoProvider = (*Component)(nil)

// DebugInfo is what prometheus.remote_write reports about its WAL and its sending in the
// UI and under `debug` in GET /api/v1/components/<id>. Its inline fields describe the first
// endpoint (all there was before there could be several); Endpoints describes each.
type DebugInfo struct {
	EndpointDebugInfo
	// WAL is absent while the component is not running.
	WAL *WALDebugInfo `json:"wal,omitempty"`
	// HighestAppended is the newest sample timestamp committed to the WAL.
	HighestAppended *time.Time `json:"highest_appended_timestamp,omitempty"`
	// Endpoints are in configuration order.
	Endpoints []EndpointDebugInfo `json:"endpoints"`
}

// EndpointDebugInfo describes one endpoint: its position in the WAL and how its requests
// fare.
type EndpointDebugInfo struct {
	// Name labels the endpoint's metrics: its name, by default its URL.
	Name string `json:"name"`
	// URL is the receiver's URL with its password, if any, replaced by "xxxxx".
	URL string `json:"url"`
	// ProtobufMessage is the protocol sent now: io.prometheus.write.v2.Request (2.0) or
	// prometheus.WriteRequest (1.0, also after protobuf_message auto fell back).
	ProtobufMessage string `json:"protobuf_message,omitempty"`
	// Marker is absent while the component is not running.
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
	// Retries counts the requests sent again after a failure since the endpoint started.
	Retries uint64 `json:"retries"`
	// HighestSent is the newest sample timestamp acknowledged by the receiver; LagSeconds
	// is the component's HighestAppended minus it, once both are known.
	HighestSent *time.Time `json:"highest_sent_timestamp,omitempty"`
	LagSeconds  *float64   `json:"lag_seconds,omitempty"`
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

// MarkerDebugInfo is an endpoint's acknowledged position: every sample in the WAL before it
// was acknowledged or dropped. It is saved after every acknowledged batch and fsynced at
// most once a second.
type MarkerDebugInfo struct {
	Segment int   `json:"segment"`
	Offset  int64 `json:"offset"`
	// SegmentsBehind is the WAL's last segment minus the marker's.
	SegmentsBehind int `json:"segments_behind"`
}

// DebugInfo implements pipeline.DebugInfoProvider. Nothing it does waits for an append or
// a request: it lists the WAL directory, reads atomics, and holds the acknowledgement
// trackers' and the statuses' locks for a moment.
func (c *Component) DebugInfo() any {
	var info DebugInfo
	if w := c.wal.Load(); w != nil {
		info.WAL = w.debugInfo()
	}
	appended := c.m.highestAppendedMs.Load()
	if appended != minTimestamp {
		info.HighestAppended = new(time.UnixMilli(appended).UTC())
	}
	if eps := c.endpoints(); eps != nil {
		for _, ep := range eps {
			info.Endpoints = append(info.Endpoints, ep.debugInfo(info.WAL, appended))
		}
	} else {
		// Not running: what the arguments say.
		for _, cfg := range c.currentArgs().endpoints() {
			info.Endpoints = append(info.Endpoints, EndpointDebugInfo{Name: cfg.name(), URL: cfg.URL.Redacted()})
		}
	}
	if len(info.Endpoints) > 0 {
		info.EndpointDebugInfo = info.Endpoints[0]
	}
	return info
}

// debugInfo describes ep; wal is the WAL's (nil: unknown), appended the newest timestamp in
// it.
func (ep *endpoint) debugInfo(wal *WALDebugInfo, appended int64) EndpointDebugInfo {
	s := ep.snd
	d := EndpointDebugInfo{
		Name:            ep.name,
		URL:             s.url,
		ProtobufMessage: ep.neg.current().message(),
		PendingSamples:  s.pending.Load(),
		Shards:          len(s.shards),
		ShardsFailing:   int(s.failing.Load()),
	}
	acked := s.tracker.position()
	d.Marker = &MarkerDebugInfo{Segment: acked.Segment, Offset: acked.Offset}
	if wal != nil {
		d.Marker.SegmentsBehind = max(wal.LastSegment-acked.Segment, 0)
	}
	st := ep.status.Info()
	d.LastSuccess = st.LastSuccess
	d.LastError, d.LastErrorAt, d.LastStatusCode = st.LastError, st.LastErrorAt, st.LastStatusCode
	d.Retries = st.Retries
	if sent := ep.m.highestSentMs.Load(); sent != minTimestamp {
		d.HighestSent = new(time.UnixMilli(sent).UTC())
		if appended != minTimestamp {
			lag := max(float64(appended-sent)/1000, 0)
			d.LagSeconds = &lag
		}
	}
	return d
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
