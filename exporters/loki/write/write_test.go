package write

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var (
	t0   = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	api  = model.LabelSet{"namespace": "default", "pod": "api-0", "container": "api", "stream": "stdout", "job": "default/api-0"}
	web  = model.LabelSet{"namespace": "default", "pod": "web-0", "container": "web", "stream": "stderr", "job": "default/web-0"}
	fast = "batch_wait: 10ms\n    min_backoff: 10ms\n    max_backoff: 100ms\n    queue_config: {drain_timeout: 1s}\n"
)

// endpointYAML is one endpoint item for rcv with extra keys (indented by four spaces).
func endpointYAML(name, url, extra string) string {
	return fmt.Sprintf("  - name: %s\n    url: %s\n    %s", name, url, extra)
}

func TestPushDecodesWithHeadersAndOrder(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, fast+
		"    tenant_id: team-a\n    headers: {X-Extra: yes}\n    basic_auth: {username: u, password: p}\n"))
	a := newAcks()

	// Two streams interleaved, with structured metadata on some entries.
	var batch []pipeline.LogEntry
	for i := range 100 {
		ls := api
		if i%3 == 0 {
			ls = web
		}
		e := pipeline.LogEntry{Labels: ls, Timestamp: t0.Add(time.Duration(i) * time.Microsecond), Line: fmt.Sprintf("line %d \"quoted\" é", i)}
		if i%2 == 0 {
			e.StructuredMetadata = labels.FromStrings("uid", "1234", "trace_id", fmt.Sprint(i))
		}
		batch = append(batch, e)
	}
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", batch)))
	require.NoError(t, a.wait(t, "A"))

	reqs := rcv.Requests()
	require.Len(t, reqs, 1, "one request: 100 small entries fit one batch")
	h := reqs[0].Header
	require.Equal(t, "team-a", h.Get("X-Scope-OrgID"))
	require.Equal(t, "yes", h.Get("X-Extra"))
	require.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("u:p")), h.Get("Authorization"))
	require.True(t, strings.HasPrefix(h.Get("User-Agent"), "sonde/"), h.Get("User-Agent"))

	got := rcv.Accepted()
	require.Len(t, got, 100)
	byStream := map[string][]int{}
	for _, e := range got {
		var i int
		_, err := fmt.Sscanf(e.Line, "line %d", &i)
		require.NoError(t, err)
		want := batch[i]
		require.Equal(t, want.Labels.String(), e.Stream)
		require.True(t, want.Timestamp.Equal(e.Timestamp), "timestamp of %d: %s", i, e.Timestamp)
		require.Equal(t, want.Line, e.Line)
		sm := labels.New()
		if len(e.StructuredMetadata) > 0 {
			b := labels.NewScratchBuilder(0)
			for _, l := range e.StructuredMetadata {
				b.Add(l.Name, l.Value)
			}
			b.Sort()
			sm = b.Labels()
		}
		require.Equal(t, want.StructuredMetadata.String(), sm.String())
		byStream[e.Stream] = append(byStream[e.Stream], i)
	}
	require.Len(t, byStream, 2)
	for s, idx := range byStream {
		require.IsIncreasing(t, idx, "entries of stream %s out of order", s)
	}
	require.Equal(t, float64(100), counter(t, c, "sent", "a"))
}

func TestBatchSizeSplitsAndKeepsOrder(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, fast+"    batch_size: 100B\n"))
	a := newAcks()
	for i := range 5 {
		require.NoError(t, c.ConsumeLogs(context.Background(), a.batch(fmt.Sprint(i), logEntries(api, fmt.Sprintf("batch %d line", i), 20, t0))))
	}
	for i := range 5 {
		require.NoError(t, a.wait(t, fmt.Sprint(i)))
	}
	var lines []string
	for _, e := range rcv.Accepted() {
		lines = append(lines, e.Line)
	}
	var want []string
	for i := range 5 {
		for j := range 20 {
			want = append(want, fmt.Sprintf("batch %d line %d", i, j))
		}
	}
	require.Equal(t, want, lines)
	for _, r := range rcv.Requests() {
		require.LessOrEqual(t, r.Entries(), 8, "about 100 bytes per request: 7 or 8 lines of 14-15 bytes")
	}
}

func TestBadRequestIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name    string
		resp    lokitest.Response
		reason  string
		dropped float64
		sent    float64
	}{
		{
			name:    "too far behind, all entries",
			resp:    lokitest.Response{Status: 400, Body: "entry with timestamp 2026-03-14 15:09:26 ignored, reason: 'entry too far behind, entry timestamp is: 2026-03-14T15:09:26Z, oldest acceptable timestamp is: 2026-03-14T16:00:00Z',\nuser 'fake', total ignored: 10 out of 10 for stream: {job=\"x\"}"},
			reason:  reasonTooFarBehind,
			dropped: 10,
		},
		{
			name:    "too old, some entries",
			resp:    lokitest.Response{Status: 400, Body: "3 errors like: entry for stream '{job=\"x\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-03-07T00:00:00Z"},
			reason:  reasonTooOld,
			dropped: 3,
			sent:    7,
		},
		{
			name:    "not found",
			resp:    lokitest.Response{Status: 404, Body: "404 page not found"},
			reason:  reasonNotFound,
			dropped: 10,
		},
		{
			name:    "proxy 400",
			resp:    lokitest.Response{Status: 400, Body: "<html>bad request</html>"},
			reason:  reasonUnknown,
			dropped: 10,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := lokitest.NewReceiver(t)
			rcv.Script(tc.resp)
			c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, fast))
			a := newAcks()
			require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 10, t0))))
			err := a.wait(t, "A")
			require.Error(t, err, "a refused batch is acknowledged with the error")
			require.Contains(t, err.Error(), tc.reason)
			require.Len(t, rcv.Requests(), 1, "4xx is not retried")
			require.Equal(t, tc.dropped, counter(t, c, "dropped", "a", tc.reason))
			require.Equal(t, tc.sent, counter(t, c, "sent", "a"))
			require.Zero(t, counter(t, c, "retries", "a", "http_5xx"))
		})
	}
}

func TestServerErrorsRetriedWithGrowingBackoff(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	for range 5 {
		rcv.Script(lokitest.Response{Status: 503, Body: "unavailable"})
	}
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, "batch_wait: 10ms\n    min_backoff: 20ms\n    max_backoff: 10s\n"))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 3, t0))))
	require.NoError(t, a.wait(t, "A"))

	reqs := rcv.Requests()
	require.Len(t, reqs, 6)
	var gaps []time.Duration
	for i := 1; i < len(reqs); i++ {
		gaps = append(gaps, reqs[i].Time.Sub(reqs[i-1].Time))
	}
	// Retry n waits between min·2ⁿ/2 and min·2ⁿ: at least 10, 20, 40, 80, 160 ms.
	for i, g := range gaps {
		require.GreaterOrEqual(t, g, (20*time.Millisecond<<i)/2, "gap %d: %v", i, gaps)
	}
	require.Greater(t, gaps[4], gaps[0], "backoff grows: %v", gaps)
	require.Equal(t, float64(5), counter(t, c, "retries", "a", "http_5xx"))
	require.Equal(t, float64(3), counter(t, c, "sent", "a"))
	require.Len(t, rcv.Accepted(), 3, "delivered once")
}

func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	rcv.Script(lokitest.Response{Status: 429, Body: "rate limited", RetryAfter: "1"})
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, fast))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 3, t0))))
	require.NoError(t, a.wait(t, "A"))
	reqs := rcv.Requests()
	require.Len(t, reqs, 2)
	require.GreaterOrEqual(t, reqs[1].Time.Sub(reqs[0].Time), time.Second, "Retry-After: 1 is honoured over the 10ms backoff")
	require.Equal(t, float64(1), counter(t, c, "retries", "a", "http_429"))
}

func TestTooManyRequestsDroppedWhenRetryOff(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	rcv.Script(lokitest.Response{Status: 429, Body: "rate limited"})
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, fast+"    retry_on_http_429: false\n"))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 3, t0))))
	require.Error(t, a.wait(t, "A"))
	require.Len(t, rcv.Requests(), 1)
	require.Equal(t, float64(3), counter(t, c, "dropped", "a", reasonRateLimited))
}

// TestSlowEndpointDoesNotStallOthers: one endpoint hangs; the other keeps receiving every
// batch, and the batches wait (unacknowledged) for the hanging one.
func TestSlowEndpointDoesNotStallOthers(t *testing.T) {
	hung, ok := lokitest.NewReceiver(t), lokitest.NewReceiver(t)
	hung.SetDefault(lokitest.Response{Hang: true})
	c, stop := startWriter(t, "endpoints:\n"+
		endpointYAML("hung", hung.URL, fast+"    timeout: 1h\n")+
		endpointYAML("ok", ok.URL, fast))
	a := newAcks()
	for i := range 20 {
		require.NoError(t, c.ConsumeLogs(context.Background(), a.batch(fmt.Sprint(i), logEntries(api, fmt.Sprintf("b%d", i), 10, t0))))
	}
	require.Eventually(t, func() bool { return len(ok.Accepted()) == 200 }, 30*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(hung.Requests()) == 1 }, 30*time.Second, 10*time.Millisecond, "the hanging endpoint holds its first request")
	for i := range 20 {
		require.False(t, a.acked(fmt.Sprint(i)), "a batch is acknowledged only once every endpoint has it")
	}
	stop() // drain_timeout 1s: the hung request is abandoned
	for i := range 20 {
		require.False(t, a.acked(fmt.Sprint(i)))
	}
}

// TestBackpressure: with Loki down, ConsumeLogs blocks once the queue is full, and resumes
// when Loki is back, in order and without loss.
func TestBackpressure(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	rcv.SetDefault(lokitest.Response{Status: 503})
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, "batch_wait: 10ms\n    min_backoff: 10ms\n    max_backoff: 100ms\n    queue_config: {capacity: 100B, drain_timeout: 1s}\n"))
	a := newAcks()
	first := logEntries(api, "first", 10, t0) // 70-80 bytes
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("first", first)))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.ConsumeLogs(ctx, a.batch("second", logEntries(api, "second", 10, t0.Add(time.Second))))
	require.ErrorIs(t, err, context.DeadlineExceeded, "the queue is full: ConsumeLogs waits")

	blocked := make(chan error, 1)
	go func() {
		blocked <- c.ConsumeLogs(context.Background(), a.batch("third", logEntries(api, "third", 10, t0.Add(2*time.Second))))
	}()
	select {
	case err := <-blocked:
		t.Fatalf("ConsumeLogs returned %v while the queue is full", err)
	case <-rcv.Changed(): // another failed retry: still blocked
	}
	rcv.SetDefault(lokitest.Response{})
	require.NoError(t, <-blocked)
	require.NoError(t, a.wait(t, "first"))
	require.NoError(t, a.wait(t, "third"))
	require.False(t, a.acked("second"), "a batch ConsumeLogs refused is never acknowledged")
	var lines []string
	for _, e := range rcv.Accepted() {
		lines = append(lines, e.Line)
	}
	require.Len(t, lines, 20)
	require.Equal(t, "first 0", lines[0])
	require.Equal(t, "third 9", lines[19])
	require.Greater(t, counter(t, c, "retries", "a", "http_5xx"), float64(0))
}

func TestInvalidLabelsDroppedBeforeSending(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, fast))
	a := newAcks()
	batch := []pipeline.LogEntry{
		{Labels: api, Timestamp: t0, Line: "good 1"},
		{Labels: model.LabelSet{}, Timestamp: t0, Line: "no labels"},
		{Labels: model.LabelSet{"bad-name": "x"}, Timestamp: t0, Line: "bad name"},
		{Labels: model.LabelSet{"app": "\xff"}, Timestamp: t0, Line: "bad value"},
		{Labels: api, Timestamp: t0, Line: "good 2"},
	}
	orig := append([]pipeline.LogEntry(nil), batch...)
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", batch)))
	err := a.wait(t, "A")
	require.ErrorContains(t, err, "3 entries dropped")
	require.Equal(t, orig, batch, "the sender's entries are not modified")
	var lines []string
	for _, e := range rcv.Accepted() {
		lines = append(lines, e.Line)
	}
	require.Equal(t, []string{"good 1", "good 2"}, lines)
	require.Equal(t, float64(3), counter(t, c, "dropped", "", reasonInvalidLabels))

	// A batch with nothing valid is acknowledged at once.
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("B", batch[1:2])))
	require.Error(t, a.wait(t, "B"))
}

func TestExternalLabels(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	c, _ := startWriter(t, "external_labels: {cluster: prod, pod: ignored}\nendpoints:\n"+endpointYAML("a", rcv.URL, fast))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 1, t0))))
	require.NoError(t, a.wait(t, "A"))
	require.Equal(t, []string{`{cluster="prod", container="api", job="default/api-0", namespace="default", pod="api-0", stream="stdout"}`}, rcv.Streams())
}

// TestShutdownDrains: what is queued when the component stops is sent before Run returns.
func TestShutdownDrains(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	c, stop := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, "batch_wait: 1h\n"))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 5, t0))))
	require.Empty(t, rcv.Requests(), "batch_wait holds the entries")
	stop()
	require.True(t, a.acked("A"))
	require.Len(t, rcv.Accepted(), 5)
	require.ErrorIs(t, c.ConsumeLogs(context.Background(), a.batch("B", logEntries(api, "y", 1, t0))), errStopping)
}

// TestShutdownAbandons: with Loki down, stopping gives up after drain_timeout and does not
// acknowledge what it could not send.
func TestShutdownAbandons(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	rcv.SetDefault(lokitest.Response{Status: 503})
	c, stop := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, "batch_wait: 10ms\n    min_backoff: 10ms\n    max_backoff: 50ms\n    queue_config: {drain_timeout: 100ms}\n"))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 5, t0))))
	<-rcv.Changed()
	stop()
	require.False(t, a.acked("A"))
}

func TestUpdate(t *testing.T) {
	r1, r2 := lokitest.NewReceiver(t), lokitest.NewReceiver(t)
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("one", r1.URL, fast))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "a", 2, t0))))
	require.NoError(t, a.wait(t, "A"))
	before := c.currentEndpoints()[0]

	// Same endpoint plus a new one: the first keeps its queue and sender.
	require.NoError(t, c.Update(validArgs(t, "endpoints:\n"+endpointYAML("one", r1.URL, fast)+endpointYAML("two", r2.URL, fast))))
	require.Same(t, before, c.currentEndpoints()[0])
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("B", logEntries(api, "b", 2, t0))))
	require.NoError(t, a.wait(t, "B"))
	require.Len(t, r1.Accepted(), 4)
	require.Len(t, r2.Accepted(), 2)

	// Remove the first.
	require.NoError(t, c.Update(validArgs(t, "endpoints:\n"+endpointYAML("two", r2.URL, fast))))
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("C", logEntries(api, "c", 2, t0))))
	require.NoError(t, a.wait(t, "C"))
	require.Len(t, r1.Accepted(), 4)
	require.Len(t, r2.Accepted(), 4)
}

func TestLifecycle(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	args := validArgs(t, "endpoints:\n"+endpointYAML("a", rcv.URL, fast))
	updated := validArgs(t, "external_labels: {cluster: x}\nendpoints:\n"+endpointYAML("b", rcv.URL, fast))
	pipelinetest.Lifecycle(t, Registration, args, updated)
}

func TestDropReasons(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   []reasonCount
	}{
		{"ingester", 400, "entry with timestamp x ignored, reason: 'entry too far behind, entry timestamp is: ...',\nuser 'fake', total ignored: 2 out of 5 for stream: {a=\"b\"}", []reasonCount{{reasonTooFarBehind, 2}}},
		{"out of order", 400, "entry with timestamp x ignored, reason: 'entry out of order',\nuser 'fake', total ignored: 1 out of 5 for stream: {a=\"b\"}", []reasonCount{{reasonOutOfOrder, 1}}},
		{"distributor grouped", 400, "2 errors like: entry for stream '{a=\"b\"}' has timestamp too new: 2030-01-01; max entry size '256' bytes exceeded for stream '{a=\"b\"}' while adding an entry with length '300' bytes", []reasonCount{{reasonTooNew, 2}, {reasonLineTooLong, 1}}},
		{"structured metadata", 400, "stream '{a=\"b\"}' includes structured metadata, but this feature is disallowed", []reasonCount{{reasonStructuredMetadata, 1}}},
		{"stream-level labels", 400, "error parsing labels '{a=\"b\"}' with error: parse error", []reasonCount{{reasonInvalidLabels, 3}}},
		{"stream-level, grouped", 400, "1 errors like: stream '{c=\"d\"}' has label value too long: 'xxx'; 2 errors like: entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01", []reasonCount{{reasonInvalidLabels, 2}, {reasonTooOld, 2}}},
		{"message with a semicolon", 400, "entry for stream '{c=\"d\"}' has 16 label names; limit 15", []reasonCount{{reasonInvalidLabels, 2}}},
		{"stream not named", 400, "error parsing labels '{x=\"y\"}' with error: parse error", []reasonCount{{reasonUnknown, 5}}},
		{"more than sent", 400, "7 errors like: entry for stream '{a=\"b\"}' has timestamp too old", []reasonCount{{reasonTooOld, 5}}},
		{"unknown body", 400, "nope", []reasonCount{{reasonUnknown, 5}}},
		{"empty body", 400, "", []reasonCount{{reasonUnknown, 5}}},
		{"partly unknown", 400, "2 errors like: entry for stream '{a=\"b\"}' has timestamp too new: 2030-01-01; 1 errors like: something new", []reasonCount{{reasonTooNew, 2}, {reasonUnknown, 3}}},
		{"ingestion blocked", 400, "ingestion blocked for user 'fake' until '2030-01-01T00:00:00Z' with status code '400'", []reasonCount{{reasonBlocked, 5}}},
		{"rate limited", 429, "ingestion rate limit exceeded", []reasonCount{{reasonRateLimited, 5}}},
		{"unauthorized", 401, "", []reasonCount{{reasonUnauthorized, 5}}},
		{"forbidden", 403, "", []reasonCount{{reasonForbidden, 5}}},
		{"too large", 413, "", []reasonCount{{reasonRequestTooLarge, 5}}},
		{"other", 418, "", []reasonCount{{reasonHTTP4xx, 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The request: 3 entries of {a="b"}, 2 of {c="d"}.
			streams := func(msg string) (int, bool) {
				switch {
				case strings.Contains(msg, `{a="b"}`):
					return 3, true
				case strings.Contains(msg, `{c="d"}`):
					return 2, true
				}
				return 0, false
			}
			require.Equal(t, tc.want, dropReasons(tc.status, tc.body, 5, streams))
		})
	}
}

func TestStoppedBeforeRun(t *testing.T) {
	c, err := New(pipelinetest.Options(t, "loki.write/test", pipelinetest.NewHost()), validArgs(t, "endpoints:\n  - url: http://127.0.0.1:1/loki/api/v1/push\n"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, c.Run(ctx))
	err = c.ConsumeLogs(context.Background(), pipeline.NewLogBatch(logEntries(api, "x", 1, t0), nil))
	require.True(t, errors.Is(err, errStopping), "%v", err)
}

func TestBearerTokenFile(t *testing.T) {
	rcv := lokitest.NewReceiver(t)
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("t0ken\n"), 0o600))
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("a", rcv.URL, fast+"    bearer_token_file: "+token+"\n"))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 1, t0))))
	require.NoError(t, a.wait(t, "A"))
	require.Equal(t, "Bearer t0ken", rcv.Requests()[0].Header.Get("Authorization"))
}

// TestRemovedEndpointReleasesBatches: batches waiting for an endpoint that an update removes
// stop waiting for it (after its drain_timeout), so their sources can move on.
func TestRemovedEndpointReleasesBatches(t *testing.T) {
	down, up := lokitest.NewReceiver(t), lokitest.NewReceiver(t)
	down.SetDefault(lokitest.Response{Status: 503})
	drain := "batch_wait: 10ms\n    min_backoff: 10ms\n    max_backoff: 50ms\n    queue_config: {drain_timeout: 100ms}\n"
	c, _ := startWriter(t, "endpoints:\n"+endpointYAML("down", down.URL, drain)+endpointYAML("up", up.URL, drain))
	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", logEntries(api, "x", 3, t0))))
	require.Eventually(t, func() bool { return len(up.Accepted()) == 3 }, 30*time.Second, 10*time.Millisecond)
	require.False(t, a.acked("A"))

	require.NoError(t, c.Update(validArgs(t, "endpoints:\n"+endpointYAML("up", up.URL, drain))))
	err := a.wait(t, "A")
	require.ErrorIs(t, err, errRemoved)
	require.Len(t, up.Accepted(), 3, "delivered once to the endpoint that stays")
}
