package write

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
)

// TestRealLoki pushes to a real Loki started on 127.0.0.1 and reads everything back through
// its query API: labels, timestamps to the nanosecond, structured metadata, every line
// exactly once, across Loki restarts (SIGTERM and SIGKILL) in the middle of the stream; and
// a line Loki refuses for good is counted.
func TestRealLoki(t *testing.T) {
	l := lokitest.Start(t)
	c, _ := startWriter(t, "endpoints:\n  - name: loki\n    url: "+l.PushURL()+
		"\n    batch_wait: 50ms\n    min_backoff: 50ms\n    max_backoff: 500ms\n    queue_config: {drain_timeout: 5s}\n")
	a := newAcks()
	ctx := context.Background()
	start := time.Now().Add(-10 * time.Minute)

	var sent []pipeline.LogEntry
	batch := func(name string, from, n int) []pipeline.LogEntry {
		var out []pipeline.LogEntry
		for i := from; i < from+n; i++ {
			ls := api
			if i%4 == 0 {
				ls = web
			}
			e := pipeline.LogEntry{
				Labels:    ls,
				Timestamp: start.Add(time.Duration(i)*time.Millisecond + 123*time.Nanosecond),
				Line:      fmt.Sprintf("%s line %d with \"quotes\" and ünïcode", name, i),
			}
			if i%3 == 0 {
				e.StructuredMetadata = labels.FromStrings("pod_uid", "0f0e-1234", "trace_id", fmt.Sprintf("%x", i))
			}
			out = append(out, e)
		}
		sent = append(sent, out...)
		return out
	}

	require.NoError(t, c.ConsumeLogs(ctx, a.batch("one", batch("one", 0, 500))))
	require.NoError(t, a.wait(t, "one"))
	requireStored(t, l, sent)

	// Loki goes away mid-stream: the next batch is retried until it is back.
	l.Stop()
	require.NoError(t, c.ConsumeLogs(ctx, a.batch("two", batch("two", 500, 500))))
	require.Eventually(t, func() bool { return counter(t, c, "retries", "loki", "network") > 0 }, 30*time.Second, 10*time.Millisecond)
	require.False(t, a.acked("two"))
	l.Restart()
	require.NoError(t, a.wait(t, "two"))
	require.NoError(t, c.ConsumeLogs(ctx, a.batch("three", batch("three", 1000, 100))))
	require.NoError(t, a.wait(t, "three"))
	requireStored(t, l, sent)

	// Killed rather than stopped: what Loki acknowledged is in its WAL.
	l.Kill()
	require.NoError(t, c.ConsumeLogs(ctx, a.batch("four", batch("four", 1100, 100))))
	l.Restart()
	require.NoError(t, a.wait(t, "four"))
	requireStored(t, l, sent)

	// An entry more than an hour behind its stream's newest is refused for good.
	tooOld := []pipeline.LogEntry{{Labels: api, Timestamp: start.Add(-3 * time.Hour), Line: "far behind"}}
	require.NoError(t, c.ConsumeLogs(ctx, a.batch("old", tooOld)))
	err := a.wait(t, "old")
	require.ErrorContains(t, err, reasonTooFarBehind)
	require.Equal(t, float64(1), counter(t, c, "dropped", "loki", reasonTooFarBehind))
	requireStored(t, l, sent)
}

// requireStored reads every stream back from l and compares it with want.
func requireStored(t *testing.T, l *lokitest.Loki, want []pipeline.LogEntry) {
	t.Helper()
	type rec struct {
		ts   int64
		line string
		sm   string
	}
	wantBy := map[string][]rec{}
	for _, e := range want {
		wantBy[e.Labels.String()] = append(wantBy[e.Labels.String()], rec{e.Timestamp.UnixNano(), e.Line, e.StructuredMetadata.String()})
	}
	for _, rs := range wantBy {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ts < rs[j].ts })
	}
	streams := l.WaitEntries(t, `{namespace="default"}`, time.Now().Add(-24*time.Hour), time.Now().Add(time.Hour), len(want), time.Minute)
	got := map[string][]rec{}
	for _, s := range streams {
		ls := model.LabelSet{}
		for k, v := range s.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		for _, e := range s.Entries {
			sm := labels.FromMap(e.StructuredMetadata)
			got[ls.String()] = append(got[ls.String()], rec{e.Timestamp.UnixNano(), e.Line, sm.String()})
		}
	}
	// Exactly what was sent: nothing missing, nothing twice, nothing else.
	require.Equal(t, wantBy, got)
}
