package write

import (
	"time"

	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/pipeline"
)

var _ pipeline.DebugInfoProvider = (*Component)(nil)

// DebugInfo is what loki.write reports about its endpoints in the UI and under `debug` in
// GET /api/v1/components/<id>.
type DebugInfo struct {
	// Endpoints are in configuration order.
	Endpoints []EndpointDebugInfo `json:"endpoints"`
}

// EndpointDebugInfo describes one endpoint: its queue and how its pushes fare.
type EndpointDebugInfo struct {
	Name string `json:"name"`
	// URL is the push URL with its password, if any, replaced by "xxxxx".
	URL          string `json:"url"`
	QueueEntries int    `json:"queue_entries"`
	// QueueBytes are the bytes queued or reserved; QueueCapacityBytes bounds them.
	QueueBytes         int `json:"queue_bytes"`
	QueueCapacityBytes int `json:"queue_capacity_bytes"`
	// LagSeconds is now minus the timestamp of the oldest entry queued (0 when empty).
	LagSeconds float64 `json:"lag_seconds"`
	// LastSuccess is when Loki last accepted a request; absent until then.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// LastError is the last failed request's error, retried or refused; it stays after the
	// endpoint recovers (compare LastErrorAt with LastSuccess).
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// LastStatusCode is the HTTP status of the last failed request (0: no response).
	LastStatusCode int `json:"last_status_code,omitempty"`
	// Retries counts the requests retried since the endpoint was configured.
	Retries uint64 `json:"retries"`
	// ConsecutiveFailures counts the failed attempts of the request being sent now; 0 once
	// a request went through.
	ConsecutiveFailures int `json:"consecutive_failures"`
}

// redactError is err's message without the endpoint URL's password (httppush.Redact).
func (e *endpoint) redactError(err error) string {
	return httppush.Redact(err.Error(), e.cfg.URL.URL)
}

// DebugInfo implements pipeline.DebugInfoProvider. It holds the component's lock only to
// copy the endpoint list, then each queue's and each sender's status lock for a moment.
func (c *Component) DebugInfo() any {
	now := time.Now()
	eps := c.currentEndpoints()
	info := DebugInfo{Endpoints: make([]EndpointDebugInfo, 0, len(eps))}
	for _, ep := range eps {
		info.Endpoints = append(info.Endpoints, ep.debugInfo(now))
	}
	return info
}

func (e *endpoint) debugInfo(now time.Time) EndpointDebugInfo {
	entries, bytes, oldest := e.queue.stats()
	d := EndpointDebugInfo{
		Name:               e.name,
		URL:                e.cfg.URL.Redacted(),
		QueueEntries:       entries,
		QueueBytes:         bytes,
		QueueCapacityBytes: e.queue.capacity,
	}
	if !oldest.IsZero() {
		d.LagSeconds = max(now.Sub(oldest).Seconds(), 0)
	}
	s := e.status.Info()
	d.LastSuccess = s.LastSuccess
	d.LastError, d.LastErrorAt, d.LastStatusCode = s.LastError, s.LastErrorAt, s.LastStatusCode
	d.Retries, d.ConsecutiveFailures = s.Retries, s.ConsecutiveFailures
	return d
}
