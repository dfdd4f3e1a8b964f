package process

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// ackRecorder hands out Ack functions and remembers which were called.
type ackRecorder struct {
	mu    sync.Mutex
	acked map[string]error
}

func newAckRecorder() *ackRecorder { return &ackRecorder{acked: map[string]error{}} }

func (r *ackRecorder) batch(name string, es []pipeline.LogEntry) pipeline.LogBatch {
	return pipeline.NewLogBatch(es, func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.acked[name] = err
	})
}

func (r *ackRecorder) isAcked(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.acked[name]
	return ok
}

func lines(es []pipeline.LogEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Line)
	}
	return out
}

// runComponent runs c until the test ends.
func runComponent(t *testing.T, c *Component) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestMultilineBlocksAndAcks(t *testing.T) {
	c, host := newComponent(t, `
- multiline: {firstline: '^\d', max_wait_time: 1h}
- regex: {expression: '^(?P<n>\d)'}
- labels: {n: ""}
`)
	host.LogsSink.Hold(true)
	acks := newAckRecorder()
	ctx := context.Background()

	// Batch A opens block 1; batch B completes it (a new first line) and opens block 2.
	require.NoError(t, c.ConsumeLogs(ctx, acks.batch("A", entries(apiLabels, "1 start", "  at a"))))
	require.Empty(t, host.LogsSink.Entries())
	require.NoError(t, c.ConsumeLogs(ctx, acks.batch("B", entries(apiLabels, "  at b", "2 next"))))
	out := host.LogsSink.Entries()
	require.Equal(t, []string{"1 start\n  at a\n  at b"}, lines(out))
	require.Equal(t, model.LabelValue("1"), out[0].Labels["n"], "stages after multiline run on the block")
	require.Equal(t, base, out[0].Timestamp, "a block has its first line's timestamp")
	require.False(t, acks.isAcked("A"), "A's lines are in a block the sink has not acknowledged")

	require.Equal(t, 1, host.LogsSink.AckHeld(nil))
	require.True(t, acks.isAcked("A"))
	require.False(t, acks.isAcked("B"), "B's last line is still held in block 2")
	require.Equal(t, float64(1), c.heldLines())

	// Stopping sends the open block; its acknowledgement completes B.
	stop := runComponent(t, c)
	stop()
	require.Equal(t, []string{"1 start\n  at a\n  at b", "2 next"}, lines(host.LogsSink.Entries()))
	require.Equal(t, 1, host.LogsSink.AckHeld(nil))
	require.True(t, acks.isAcked("B"))
}

// TestMultilineMaxWaitAndStreams runs in a synctest bubble (Run's timer and the sink are in
// memory): the blocks go out once max_wait_time has passed, not before.
func TestMultilineMaxWaitAndStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, host := newComponent(t, "- multiline: {firstline: '^start', max_wait_time: 20ms}\n")
		runComponent(t, c)
		acks := newAckRecorder()
		web := model.LabelSet{"app": "web"}
		batch := []pipeline.LogEntry{
			{Labels: apiLabels, Timestamp: base, Line: "start api"},
			{Labels: web, Timestamp: base, Line: "start web"},
			{Labels: apiLabels, Timestamp: base, Line: "api 2"},
			{Labels: web, Timestamp: base, Line: "web 2"},
		}
		require.NoError(t, c.ConsumeLogs(context.Background(), acks.batch("A", batch)))
		time.Sleep(20*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		require.Empty(t, host.LogsSink.Entries(), "held until max_wait_time")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		require.Len(t, host.LogsSink.Entries(), 2)
		require.ElementsMatch(t, []string{"start api\napi 2", "start web\nweb 2"}, lines(host.LogsSink.Entries()))
		require.True(t, acks.isAcked("A"))
	})
}

func TestMultilineMaxLines(t *testing.T) {
	c, host := newComponent(t, "- multiline: {firstline: '^start', max_lines: 2, max_wait_time: 1h}\n")
	acks := newAckRecorder()
	require.NoError(t, c.ConsumeLogs(context.Background(), acks.batch("A", entries(apiLabels, "start", "a", "b", "c", "d"))))
	require.Equal(t, []string{"start\na", "b\nc"}, lines(host.LogsSink.Entries()))
	require.False(t, acks.isAcked("A"))
}

// TestMultilineDropAfterBlock: a block dropped by a later stage still acknowledges its
// batches.
func TestMultilineDropAfterBlock(t *testing.T) {
	c, host := newComponent(t, "- multiline: {firstline: '^start', max_lines: 2}\n- drop: {expression: 'secret'}\n")
	acks := newAckRecorder()
	require.NoError(t, c.ConsumeLogs(context.Background(), acks.batch("A", entries(apiLabels, "start", "secret"))))
	require.Empty(t, host.LogsSink.Entries())
	require.True(t, acks.isAcked("A"))
}

// failingHost is a Host whose logs receiver is recv.
type failingHost struct {
	*pipelinetest.Host
	recv pipeline.LogsReceiver
}

func (h failingHost) Logs([]string) pipeline.LogsReceiver { return h.recv }

// failOnce fails its first ConsumeLogs, then passes batches to next.
type failOnce struct {
	mu     sync.Mutex
	failed bool
	next   pipeline.LogsReceiver
}

func (f *failOnce) ConsumeLogs(ctx context.Context, b pipeline.LogBatch) error {
	f.mu.Lock()
	first := !f.failed
	f.failed = true
	f.mu.Unlock()
	if first {
		return errors.New("context canceled")
	}
	return f.next.ConsumeLogs(ctx, b)
}

// TestMultilineSendFailure: when the next component does not accept a batch, the batch
// that triggered the send is refused (and never acknowledged: its sender sends it again),
// and the blocks go back to the queue, to be sent first next time.
func TestMultilineSendFailure(t *testing.T) {
	host := pipelinetest.NewHost()
	fh := failingHost{Host: host, recv: &failOnce{next: host.LogsSink}}
	args := &Arguments{ForwardTo: []string{"x"}, Stages: []StageConfig{{Multiline: &MultilineConfig{FirstLine: "^start", MaxLines: 2}}}}
	opts := pipelinetest.Options(t, "loki.process/test", host)
	opts.Host = fh
	c, err := New(opts, args)
	require.NoError(t, err)
	acks := newAckRecorder()

	require.Error(t, c.ConsumeLogs(context.Background(), acks.batch("A", entries(apiLabels, "start", "a"))))
	require.Empty(t, host.LogsSink.Entries())
	require.NoError(t, c.ConsumeLogs(context.Background(), acks.batch("B", entries(apiLabels, "start", "b"))))
	require.Equal(t, []string{"start\na", "start\nb"}, lines(host.LogsSink.Entries()))
	require.True(t, acks.isAcked("B"))
	require.False(t, acks.isAcked("A"), "a refused batch is never acknowledged")
}

// TestMultilineUpdate: blocks held by the stages an update replaces are still sent.
// It runs in a synctest bubble: Run and the sink are in memory, so synctest.Wait returns once
// Run has sent the retired blocks.
func TestMultilineUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, host := newComponent(t, "- multiline: {firstline: '^start', max_wait_time: 1h}\n")
		runComponent(t, c)
		acks := newAckRecorder()
		require.NoError(t, c.ConsumeLogs(context.Background(), acks.batch("A", entries(apiLabels, "start", "a"))))
		require.NoError(t, c.Update(&Arguments{ForwardTo: []string{"x"}, Stages: nil}))
		synctest.Wait()
		require.True(t, acks.isAcked("A"))
		require.Equal(t, []string{"start\na"}, lines(host.LogsSink.Entries()))
	})
}
