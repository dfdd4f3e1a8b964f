package httppush

import (
	"net/url"
	"strings"
	"sync"
	"time"
)

// Status is what a sender records about its requests for its component's DebugInfo: the
// last success, the last failure, how many requests were sent again, and how many attempts
// of the request being sent now failed. It is safe for concurrent use; the zero value is
// ready.
type Status struct {
	mu          sync.Mutex
	lastSuccess time.Time
	lastError   string
	lastErrorAt time.Time
	lastStatus  int
	retries     uint64
	failures    int
}

// StatusInfo is a Status at one moment, in the form DebugInfo reports it.
type StatusInfo struct {
	// LastSuccess is when the receiver last accepted a request; nil until then.
	LastSuccess *time.Time
	// LastError is the last failed attempt's error (see Redact), LastErrorAt when it failed
	// (nil: none yet) and LastStatusCode its HTTP status (0: no response). They stay after
	// a success.
	LastError      string
	LastErrorAt    *time.Time
	LastStatusCode int
	// Retries counts the Retry calls.
	Retries uint64
	// ConsecutiveFailures counts the failed attempts of the request being sent now.
	ConsecutiveFailures int
}

// Success records a request the receiver accepted; the next request starts afresh.
func (s *Status) Success(now time.Time) {
	s.mu.Lock()
	s.lastSuccess, s.failures = now, 0
	s.mu.Unlock()
}

// Failure records a failed attempt: msg (redacted, see Redact) and the HTTP status (0: no
// response). retry says whether the request is sent again (one more consecutive failure)
// or ends with this attempt (refused for good: the next request starts afresh).
func (s *Status) Failure(now time.Time, msg string, status int, retry bool) {
	s.mu.Lock()
	s.lastError, s.lastErrorAt, s.lastStatus = msg, now, status
	if retry {
		s.failures++
	} else {
		s.failures = 0
	}
	s.mu.Unlock()
}

// Retry counts a request retried: sent again, or about to be, after a failure. The sender
// says which it counts.
func (s *Status) Retry() {
	s.mu.Lock()
	s.retries++
	s.mu.Unlock()
}

// Info returns what s recorded so far.
func (s *Status) Info() StatusInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StatusInfo{
		LastSuccess:         timeOrNil(s.lastSuccess),
		LastError:           s.lastError,
		LastErrorAt:         timeOrNil(s.lastErrorAt),
		LastStatusCode:      s.lastStatus,
		Retries:             s.retries,
		ConsecutiveFailures: s.failures,
	}
}

// timeOrNil returns nil for the zero time, so that JSON leaves it out.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Redact replaces u's password in msg, an error message, with "xxxxx": net/http already
// strips it from the URLs in its errors, but a proxy's or a receiver's message may repeat
// it. A nil u, or one without a password, leaves msg as it is.
func Redact(msg string, u *url.URL) string {
	if u != nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}
