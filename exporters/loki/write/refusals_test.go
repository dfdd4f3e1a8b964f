package write

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
)

// TestRealLokiRefusalsCountedAsLokiSaysThem: one request to a real Loki holds a stream Loki
// refuses as a whole (more label names than its limit of 15), an entry it refuses alone
// (too new) and valid entries. Loki stores the valid ones and answers 400; what is counted
// as dropped is what its answer names: the refused stream's entries and the one entry, not
// the whole request.
func TestRealLokiRefusalsCountedAsLokiSaysThem(t *testing.T) {
	l := lokitest.Start(t)
	c, _ := startWriter(t, "endpoints:\n  - name: loki\n    url: "+l.PushURL()+
		"\n    batch_wait: 50ms\n    min_backoff: 50ms\n    max_backoff: 500ms\n")
	start := time.Now().Add(-10 * time.Minute)
	wide := model.LabelSet{"namespace": "default"}
	for i := range 15 {
		wide[model.LabelName(fmt.Sprintf("l%02d", i))] = "v"
	}
	var valid, batch []pipeline.LogEntry
	for i := range 3 {
		e := pipeline.LogEntry{Labels: api, Timestamp: start.Add(time.Duration(i) * time.Millisecond), Line: fmt.Sprintf("valid %d", i)}
		valid = append(valid, e)
		batch = append(batch, e, pipeline.LogEntry{Labels: wide, Timestamp: e.Timestamp, Line: fmt.Sprintf("wide %d", i)})
	}
	batch = append(batch, pipeline.LogEntry{Labels: api, Timestamp: time.Now().Add(3 * time.Hour), Line: "too new"})

	a := newAcks()
	require.NoError(t, c.ConsumeLogs(context.Background(), a.batch("A", batch)))
	err := a.wait(t, "A")
	require.Error(t, err)
	t.Logf("acknowledged with: %v", err)
	require.Equal(t, float64(3), counter(t, c, "dropped", "loki", reasonInvalidLabels), "the wide stream's entries")
	require.Equal(t, float64(1), counter(t, c, "dropped", "loki", reasonTooNew))
	require.Zero(t, counter(t, c, "dropped", "loki", reasonUnknown))
	require.Equal(t, float64(3), counter(t, c, "sent", "loki"))
	requireStored(t, l, valid)
}
