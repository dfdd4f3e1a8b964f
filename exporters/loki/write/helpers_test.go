package write

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// validArgs decodes loki.write arguments from YAML (endpoint defaults included) and
// validates them.
func validArgs(t testing.TB, doc string) *Arguments {
	t.Helper()
	a := pipelinetest.DecodeArgs[*Arguments](t, Registration, doc)
	require.NoError(t, a.Validate())
	return a
}

// startWriter builds and runs a loki.write; stop cancels Run and waits for it (also done
// when the test ends).
func startWriter(t *testing.T, doc string) (c *Component, stop func()) {
	t.Helper()
	c, err := New(pipelinetest.Options(t, "loki.write/test", pipelinetest.NewHost()), validArgs(t, doc))
	require.NoError(t, err)
	return c, pipelinetest.Run(t, c)
}

// acks records the acknowledgements of batches by name.
type acks struct {
	mu  sync.Mutex
	got map[string]error
	ch  chan string
}

func newAcks() *acks { return &acks{got: map[string]error{}, ch: make(chan string, 1000)} }

func (a *acks) batch(name string, es []pipeline.LogEntry) pipeline.LogBatch {
	return pipeline.NewLogBatch(es, func(err error) {
		a.mu.Lock()
		a.got[name] = err
		a.mu.Unlock()
		a.ch <- name
	})
}

// wait waits for the acknowledgement of name and returns its error.
func (a *acks) wait(t *testing.T, name string) error {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		a.mu.Lock()
		err, ok := a.got[name]
		a.mu.Unlock()
		if ok {
			return err
		}
		select {
		case <-a.ch:
		case <-deadline:
			t.Fatalf("batch %s not acknowledged within 60s", name)
		}
	}
}

func (a *acks) acked(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.got[name]
	return ok
}

// logEntries builds n entries of stream ls, lines "<prefix> <i>", timestamps from ts on,
// one millisecond apart.
func logEntries(ls model.LabelSet, prefix string, n int, ts time.Time) []pipeline.LogEntry {
	out := make([]pipeline.LogEntry, n)
	for i := range out {
		out[i] = pipeline.LogEntry{Labels: ls, Timestamp: ts.Add(time.Duration(i) * time.Millisecond), Line: fmt.Sprintf("%s %d", prefix, i)}
	}
	return out
}

func counter(t *testing.T, c *Component, name string, labels ...string) float64 {
	t.Helper()
	switch name {
	case "dropped":
		return testutil.ToFloat64(c.metrics.dropped.WithLabelValues(labels...))
	case "retries":
		return testutil.ToFloat64(c.metrics.retries.WithLabelValues(labels...))
	case "sent":
		return testutil.ToFloat64(c.metrics.sentTotal.WithLabelValues(labels...))
	}
	t.Fatalf("unknown counter %s", name)
	return 0
}
