package write

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// validArgs decodes elasticsearch.write arguments from YAML and validates them.
func validArgs(t testing.TB, doc string) *Arguments {
	t.Helper()
	a := pipelinetest.DecodeArgs[*Arguments](t, Registration, doc)
	require.NoError(t, a.Validate())
	return a
}

// startWriter builds and runs an elasticsearch.write; stop cancels Run and waits for it
// (also done when the test ends).
func startWriter(t *testing.T, doc string) (c *Component, opts pipeline.Options, stop func()) {
	t.Helper()
	opts = pipelinetest.Options(t, "elasticsearch.write/test", pipelinetest.NewHost())
	c, err := New(opts, validArgs(t, doc))
	require.NoError(t, err)
	return c, opts, pipelinetest.Run(t, c)
}

// acks records the acknowledgements of batches by name.
type acks struct {
	mu  sync.Mutex
	got map[string]error
}

func newAcks() *acks { return &acks{got: map[string]error{}} }

func (a *acks) batch(name string, es []pipeline.LogEntry) pipeline.LogBatch {
	return pipeline.NewLogBatch(es, func(err error) {
		a.mu.Lock()
		a.got[name] = err
		a.mu.Unlock()
	})
}

// acked returns the acknowledgement of name, and whether it came.
func (a *acks) acked(name string) (error, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	err, ok := a.got[name]
	return err, ok
}

// wait waits for the acknowledgement of name and returns its error.
func (a *acks) wait(t *testing.T, name string) error {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		var ok bool
		err, ok = a.acked(name)
		return ok
	}, 60*time.Second, 5*time.Millisecond, "batch %s acknowledged", name)
	return err
}

// send hands a batch to c.
func send(t *testing.T, c *Component, b pipeline.LogBatch) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.ConsumeLogs(ctx, b))
}

// entries returns n entries of one stream: lines prefix-000000 …, one millisecond apart
// from ts.
func entries(ls model.LabelSet, prefix string, n int, ts time.Time) []pipeline.LogEntry {
	es := make([]pipeline.LogEntry, n)
	for i := range es {
		es[i] = pipeline.LogEntry{Labels: ls, Timestamp: ts.Add(time.Duration(i) * time.Millisecond), Line: fmt.Sprintf("%s-%06d", prefix, i)}
	}
	return es
}
