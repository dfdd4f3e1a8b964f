package write

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// debugEndpoint is fast, with a known queue capacity.
const debugEndpoint = "batch_wait: 10ms\n    min_backoff: 10ms\n    max_backoff: 100ms\n    queue_config: {capacity: 1MiB, drain_timeout: 1s}\n"

// TestDebugInfo drives an endpoint into the states the UI must show — delivering, failing
// and retrying, refused, recovered, unreachable behind a URL with a password — and checks
// what DebugInfo says, while another goroutine calls DebugInfo all along (as the HTTP
// handlers do; run with -race).
func TestDebugInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		// url returns the endpoint's URL, given the receiver's.
		url func(t *testing.T, rcv string) string
		// script sets the receiver's answers.
		script func(*lokitest.Receiver)
		// acked: the batch is acknowledged (else it stays queued).
		acked bool
		// ready says when the state to check is reached.
		ready func(EndpointDebugInfo) bool
		check func(t *testing.T, d EndpointDebugInfo)
	}{
		{
			name:  "delivering",
			acked: true,
			ready: func(d EndpointDebugInfo) bool { return d.LastSuccess != nil },
			check: func(t *testing.T, d EndpointDebugInfo) {
				require.Empty(t, d.LastError)
				require.Nil(t, d.LastErrorAt)
				require.Zero(t, d.Retries)
				require.Zero(t, d.QueueEntries)
				require.Zero(t, d.LagSeconds)
			},
		},
		{
			name:   "failing: 503, retrying",
			script: func(r *lokitest.Receiver) { r.SetDefault(lokitest.Response{Status: 503, Body: "ingester unavailable"}) },
			ready:  func(d EndpointDebugInfo) bool { return d.Retries >= 3 },
			check: func(t *testing.T, d EndpointDebugInfo) {
				require.Contains(t, d.LastError, "503")
				require.Contains(t, d.LastError, "ingester unavailable")
				require.NotNil(t, d.LastErrorAt)
				require.Equal(t, 503, d.LastStatusCode)
				require.Nil(t, d.LastSuccess)
				require.GreaterOrEqual(t, d.ConsecutiveFailures, 3)
				require.Equal(t, 3, d.QueueEntries, "the batch waits in the queue")
				require.Positive(t, d.QueueBytes)
				require.Greater(t, d.LagSeconds, time.Since(t0).Seconds()-60, "lag: since the oldest queued entry")
			},
		},
		{
			name:   "refused: 400, not retried",
			script: func(r *lokitest.Receiver) { r.Script(lokitest.Response{Status: 400, Body: "entry too far behind"}) },
			acked:  true,
			ready:  func(d EndpointDebugInfo) bool { return d.LastErrorAt != nil },
			check: func(t *testing.T, d EndpointDebugInfo) {
				require.Contains(t, d.LastError, "too far behind")
				require.Equal(t, 400, d.LastStatusCode)
				require.Zero(t, d.Retries)
				require.Zero(t, d.ConsecutiveFailures)
				require.Zero(t, d.QueueEntries)
			},
		},
		{
			name: "recovered after two 500s",
			script: func(r *lokitest.Receiver) {
				r.Script(lokitest.Response{Status: 500, Body: "boom"}, lokitest.Response{Status: 500, Body: "boom"})
			},
			acked: true,
			ready: func(d EndpointDebugInfo) bool { return d.LastSuccess != nil },
			check: func(t *testing.T, d EndpointDebugInfo) {
				require.Contains(t, d.LastError, "500", "the last error stays after recovery")
				require.False(t, d.LastSuccess.Before(*d.LastErrorAt))
				require.Equal(t, uint64(2), d.Retries)
				require.Zero(t, d.ConsecutiveFailures)
				require.Zero(t, d.QueueEntries)
			},
		},
		{
			name: "unreachable, password in the URL",
			url: func(t *testing.T, _ string) string {
				return "http://sonde:hunter2@" + backendtest.FreeAddr(t) + "/loki/api/v1/push" // nothing listens there
			},
			ready: func(d EndpointDebugInfo) bool { return d.Retries >= 1 },
			check: func(t *testing.T, d EndpointDebugInfo) {
				require.Contains(t, d.URL, "sonde:xxxxx@")
				require.Zero(t, d.LastStatusCode, "no response")
				require.NotEmpty(t, d.LastError)
				require.Equal(t, 3, d.QueueEntries)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := lokitest.NewReceiver(t)
			if tc.script != nil {
				tc.script(rcv)
			}
			url := rcv.URL
			if tc.url != nil {
				url = tc.url(t, rcv.URL)
			}
			c, stop := startWriter(t, "endpoints:\n"+endpointYAML("a", url, debugEndpoint))
			done := pipelinetest.HammerDebugInfo(c)
			defer done()

			a := newAcks()
			require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 3, t0))))
			if tc.acked {
				_ = a.wait(t, "A")
			}
			var d EndpointDebugInfo
			require.Eventually(t, func() bool {
				info := c.DebugInfo().(DebugInfo)
				require.Len(t, info.Endpoints, 1)
				d = info.Endpoints[0]
				return tc.ready(d)
			}, 30*time.Second, time.Millisecond, "last seen: %+v", d)
			require.Equal(t, "a", d.Name)
			require.Equal(t, 1<<20, d.QueueCapacityBytes)
			tc.check(t, d)

			b, err := json.Marshal(c.DebugInfo())
			require.NoError(t, err)
			require.NotContains(t, string(b), "hunter2")
			stop()
		})
	}
}

// TestDebugInfoJSON checks the names the UI and the API documentation use.
func TestDebugInfoJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(DebugInfo{Endpoints: []EndpointDebugInfo{{
		Name: "a", URL: "http://u:xxxxx@loki/push", QueueEntries: 1, QueueBytes: 2, QueueCapacityBytes: 3,
		LagSeconds: 4.5, LastSuccess: &at, LastError: "boom", LastErrorAt: &at, LastStatusCode: 503,
		Retries: 6, ConsecutiveFailures: 7,
	}}})
	require.NoError(t, err)
	require.JSONEq(t, `{"endpoints": [{"name": "a", "url": "http://u:xxxxx@loki/push", "queue_entries": 1,
		"queue_bytes": 2, "queue_capacity_bytes": 3, "lag_seconds": 4.5, "last_success": "2026-01-02T03:04:05Z",
		"last_error": "boom", "last_error_at": "2026-01-02T03:04:05Z", "last_status_code": 503, "retries": 6,
		"consecutive_failures": 7}]}`, string(b))
}

// TestRedactError: a password repeated in an error message is hidden.
func TestRedactError(t *testing.T) {
	a := validArgs(t, "endpoints: [{url: 'http://sonde:hunter2@loki:3100/loki/api/v1/push'}]")
	ep, err := newEndpoint(a.Endpoints[0], newMetrics(nil), slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	msg := ep.redactError(errorString(`proxy says: bad credentials sonde:hunter2`))
	require.False(t, strings.Contains(msg, "hunter2"), msg)
	require.Contains(t, msg, "sonde:xxxxx")
}

type errorString string

func (e errorString) Error() string { return string(e) }
