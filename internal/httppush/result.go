package httppush

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps a receiver's Retry-After, so that a bogus value cannot stall the queue
// for days.
const maxRetryAfter = time.Hour

// Result is the outcome of one request.
type Result struct {
	// Status is the HTTP status; 0 when no response came.
	Status int
	// RetryAfter is from the Retry-After header, capped at an hour; 0 when absent.
	RetryAfter time.Duration
	// Body is the start of a non-2xx response's body (Config.MaxErrorBody), trimmed of
	// spaces: for logs and for reading why the receiver refused the request.
	Body string
	// Answer is the start of a 2xx answer's body when Config.ReadAnswer asks for it.
	Answer []byte
	// Header holds the response's headers (nil when no response came), for protocols whose
	// receivers report through them (remote write 2.0's X-Prometheus-Remote-Write-*-Written).
	Header http.Header
	// Err is nil on 2xx.
	Err error
}

// Retryable reports whether the request should be sent again: no response, 5xx or 429.
// Other 4xx (and any other status) mean the receiver will never take this data.
func (r Result) Retryable() bool {
	return r.Status == 0 || r.Status/100 == 5 || r.Status == http.StatusTooManyRequests
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date. It returns 0
// when the header is absent or invalid, and caps the delay at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
