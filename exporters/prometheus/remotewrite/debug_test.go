package remotewrite

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestDebugInfo drives the component into the states the UI must show — sending, failing
// and retrying, recovered, rejected, falling behind, unreachable behind a URL with a
// password — and checks what DebugInfo says, while another goroutine calls DebugInfo all
// along (as the HTTP handlers do; run with -race).
func TestDebugInfo(t *testing.T) {
	const base int64 = 1_700_000_000_000 // ms
	for _, tc := range []struct {
		name string
		// url returns the receiver URL to use, given the test receiver's.
		url func(t *testing.T, rcv string) string
		// act scripts the receiver and appends.
		act   func(t *testing.T, in *instance, r *remotewritetest.Receiver)
		ready func(DebugInfo) bool
		check func(t *testing.T, d DebugInfo)
	}{
		{
			name: "sending",
			act:  func(t *testing.T, in *instance, _ *remotewritetest.Receiver) { in.appendSamples(t, 10, 3, base) },
			ready: func(d DebugInfo) bool {
				return d.HighestSent != nil && d.HighestSent.UnixMilli() == base+2000 && d.PendingSamples == 0
			},
			check: func(t *testing.T, d DebugInfo) {
				require.NotNil(t, d.LastSuccess)
				require.Empty(t, d.LastError)
				require.Zero(t, d.Retries)
				require.Zero(t, d.ShardsFailing)
				require.Equal(t, float64(0), *d.LagSeconds)
				require.Equal(t, base+2000, d.HighestAppended.UnixMilli())
			},
		},
		{
			name: "failing: 503, retrying",
			act: func(t *testing.T, in *instance, r *remotewritetest.Receiver) {
				r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable, Body: "overloaded"})
				in.appendSamples(t, 10, 1, base)
			},
			ready: func(d DebugInfo) bool { return d.Retries >= 3 },
			check: func(t *testing.T, d DebugInfo) {
				require.Contains(t, d.LastError, "503")
				require.Contains(t, d.LastError, "overloaded")
				require.NotNil(t, d.LastErrorAt)
				require.Equal(t, http.StatusServiceUnavailable, d.LastStatusCode)
				require.Nil(t, d.LastSuccess)
				require.Equal(t, int64(10), d.PendingSamples)
				require.Equal(t, 1, d.ShardsFailing)
				require.Nil(t, d.HighestSent, "nothing sent yet")
				require.Nil(t, d.LagSeconds, "no lag without a sent sample")
				require.Equal(t, base, d.HighestAppended.UnixMilli())
			},
		},
		{
			name: "recovered after two 500s",
			act: func(t *testing.T, in *instance, r *remotewritetest.Receiver) {
				r.Script(remotewritetest.Response{Status: 500, Body: "boom"}, remotewritetest.Response{Status: 500, Body: "boom"})
				in.appendSamples(t, 10, 1, base)
			},
			ready: func(d DebugInfo) bool { return d.LastSuccess != nil && d.PendingSamples == 0 },
			check: func(t *testing.T, d DebugInfo) {
				require.Contains(t, d.LastError, "500", "the last error stays after recovery")
				require.False(t, d.LastSuccess.Before(*d.LastErrorAt))
				require.Equal(t, uint64(2), d.Retries)
				require.Zero(t, d.ShardsFailing)
			},
		},
		{
			name: "rejected: 400, not retried",
			act: func(t *testing.T, in *instance, r *remotewritetest.Receiver) {
				r.Script(remotewritetest.Response{Status: http.StatusBadRequest, Body: "invalid label name"})
				in.appendSamples(t, 10, 1, base)
			},
			ready: func(d DebugInfo) bool { return d.LastErrorAt != nil && d.PendingSamples == 0 },
			check: func(t *testing.T, d DebugInfo) {
				require.Contains(t, d.LastError, "invalid label name")
				require.Equal(t, http.StatusBadRequest, d.LastStatusCode)
				require.Zero(t, d.Retries)
			},
		},
		{
			name: "falling behind: lag",
			act: func(t *testing.T, in *instance, r *remotewritetest.Receiver) {
				in.appendSamples(t, 10, 1, base)
				waitSamples(t, r, 10)
				require.Eventually(t, func() bool { return in.em().highestSentMs.Load() == base }, 10*time.Second, time.Millisecond)
				r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
				in.appendSamples(t, 10, 1, base+90_000)
			},
			ready: func(d DebugInfo) bool { return d.PendingSamples == 10 && d.Retries >= 1 },
			check: func(t *testing.T, d DebugInfo) {
				require.Equal(t, 90.0, *d.LagSeconds)
				require.Equal(t, base, d.HighestSent.UnixMilli())
				require.Equal(t, base+90_000, d.HighestAppended.UnixMilli())
				require.NotNil(t, d.LastSuccess)
			},
		},
		{
			name: "unreachable, password in the URL",
			url: func(t *testing.T, _ string) string {
				return "http://sonde:hunter2@" + backendtest.FreeAddr(t) + remotewritetest.WritePath // nothing listens there
			},
			act:   func(t *testing.T, in *instance, _ *remotewritetest.Receiver) { in.appendSamples(t, 10, 1, base) },
			ready: func(d DebugInfo) bool { return d.Retries >= 1 },
			check: func(t *testing.T, d DebugInfo) {
				require.Contains(t, d.URL, "sonde:xxxxx@")
				require.Zero(t, d.LastStatusCode, "no response")
				require.NotEmpty(t, d.LastError)
				require.Equal(t, int64(10), d.PendingSamples)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := remotewritetest.NewReceiver(t)
			u := r.URL
			if tc.url != nil {
				u = tc.url(t, r.URL)
			}
			args := testArgs(t, u)
			args.Endpoint.Queue.Shards = 1
			in := start(t, t.TempDir(), args, nil)
			stop := pipelinetest.HammerDebugInfo(in.c)
			defer stop()

			tc.act(t, in, r)
			var d DebugInfo
			require.Eventually(t, func() bool {
				d = in.c.DebugInfo().(DebugInfo)
				return tc.ready(d)
			}, 30*time.Second, time.Millisecond, "last seen: %+v", d)
			require.Equal(t, 1, d.Shards)
			require.NotNil(t, d.WAL)
			require.Positive(t, d.WAL.SizeBytes)
			require.Positive(t, d.WAL.Segments)
			require.Equal(t, d.WAL.LastSegment-d.WAL.FirstSegment+1, d.WAL.Segments)
			require.NotNil(t, d.Marker)
			require.LessOrEqual(t, d.Marker.Segment, d.WAL.LastSegment)
			tc.check(t, d)

			b, err := json.Marshal(in.c.DebugInfo())
			require.NoError(t, err)
			require.NotContains(t, string(b), "hunter2")
		})
	}
}

// TestDebugInfoNotRunning: before Run, only the URL is known.
func TestDebugInfoNotRunning(t *testing.T) {
	c, err := New(pipeline.Options{DataPath: t.TempDir()}, testArgs(t, "http://u:hunter2@127.0.0.1:1/api/v1/write"))
	require.NoError(t, err)
	b, err := json.Marshal(c.DebugInfo())
	require.NoError(t, err)
	require.JSONEq(t, `{"name": "http://u:xxxxx@127.0.0.1:1/api/v1/write", "url": "http://u:xxxxx@127.0.0.1:1/api/v1/write",
		"pending_samples": 0, "shards": 0, "shards_failing": 0, "retries": 0,
		"endpoints": [{"name": "http://u:xxxxx@127.0.0.1:1/api/v1/write", "url": "http://u:xxxxx@127.0.0.1:1/api/v1/write",
			"pending_samples": 0, "shards": 0, "shards_failing": 0, "retries": 0}]}`, string(b))
}

// TestDebugInfoJSON checks the names the UI and the API documentation use.
func TestDebugInfoJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lag := 1.5
	ep := EndpointDebugInfo{
		Name: "p", URL: "http://p/w", Marker: &MarkerDebugInfo{Segment: 3, Offset: 5, SegmentsBehind: 1},
		PendingSamples: 6, Shards: 7, ShardsFailing: 8, LastSuccess: &at, LastError: "boom", LastErrorAt: &at,
		LastStatusCode: 503, Retries: 9, HighestSent: &at, LagSeconds: &lag,
	}
	b, err := json.Marshal(DebugInfo{
		EndpointDebugInfo: ep, WAL: &WALDebugInfo{SizeBytes: 1, Segments: 2, FirstSegment: 3, LastSegment: 4},
		HighestAppended: &at, Endpoints: []EndpointDebugInfo{ep},
	})
	require.NoError(t, err)
	const epJSON = `"name": "p", "url": "http://p/w",
		"marker": {"segment": 3, "offset": 5, "segments_behind": 1}, "pending_samples": 6, "shards": 7,
		"shards_failing": 8, "last_success": "2026-01-02T03:04:05Z", "last_error": "boom",
		"last_error_at": "2026-01-02T03:04:05Z", "last_status_code": 503, "retries": 9,
		"highest_sent_timestamp": "2026-01-02T03:04:05Z", "lag_seconds": 1.5`
	require.JSONEq(t, `{`+epJSON+`,
		"wal": {"size_bytes": 1, "segments": 2, "first_segment": 3, "last_segment": 4},
		"highest_appended_timestamp": "2026-01-02T03:04:05Z",
		"endpoints": [{`+epJSON+`}]}`, string(b))
}
