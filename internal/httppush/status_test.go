package httppush

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStatus: failures are recorded with their status, retries counted, and the consecutive
// failures end with the request, delivered or refused for good.
func TestStatus(t *testing.T) {
	var s Status
	require.Equal(t, StatusInfo{}, s.Info(), "zero value: nothing yet")

	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Failure(t0, "boom", 503, true)
	s.Retry()
	s.Failure(t0.Add(time.Second), "boom again", 500, true)
	s.Retry()
	at := t0.Add(time.Second)
	require.Equal(t, StatusInfo{LastError: "boom again", LastErrorAt: &at, LastStatusCode: 500, Retries: 2, ConsecutiveFailures: 2}, s.Info())

	ok := t0.Add(2 * time.Second)
	s.Success(ok)
	require.Equal(t, StatusInfo{LastSuccess: &ok, LastError: "boom again", LastErrorAt: &at, LastStatusCode: 500, Retries: 2}, s.Info(),
		"the last error stays after a success")

	s.Failure(t0, "retrying", 0, true)
	require.Equal(t, 1, s.Info().ConsecutiveFailures)
	s.Failure(t0, "refused", 400, false)
	info := s.Info()
	require.Equal(t, "refused", info.LastError)
	require.Equal(t, 400, info.LastStatusCode)
	require.Zero(t, info.ConsecutiveFailures, "a request refused for good ends its failures")
	require.Equal(t, uint64(2), info.Retries)
}

// TestRedact: a password repeated in an error message is hidden.
func TestRedact(t *testing.T) {
	u, err := url.Parse("http://sonde:hunter2@p/w")
	require.NoError(t, err)
	for _, tc := range []struct{ name, in, want string }{
		{"repeated", "proxy says: bad credentials sonde:hunter2", "proxy says: bad credentials sonde:xxxxx"},
		{"twice", "hunter2 hunter2", "xxxxx xxxxx"},
		{"absent", "connection refused", "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, Redact(tc.in, u)) })
	}
	require.Equal(t, "hunter2", Redact("hunter2", nil))
	noPassword, err := url.Parse("http://hunter2@p/w")
	require.NoError(t, err)
	require.Equal(t, "hunter2", Redact("hunter2", noPassword), "a user name is not a secret")
}
