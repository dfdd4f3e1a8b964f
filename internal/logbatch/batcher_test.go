package logbatch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// recorder is a receiver that keeps the batches it accepted, unacknowledged, and refuses
// the first refuse ones; with block set it waits until its context ends.
type recorder struct {
	block bool // set before use

	mu      sync.Mutex
	batches []pipeline.LogBatch
	refuse  int
}

func (r *recorder) ConsumeLogs(ctx context.Context, b pipeline.LogBatch) error {
	if r.block {
		<-ctx.Done()
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse > 0 {
		r.refuse--
		return errors.New("refused")
	}
	r.batches = append(r.batches, b)
	return nil
}

func (r *recorder) taken() []pipeline.LogBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pipeline.LogBatch(nil), r.batches...)
}

// testBatcher runs a batcher of int64 offsets sending to r until the test ends; commits
// counts the calls of Committed.
type testBatcher struct {
	*Batcher[int64]
	metrics Metrics
	commits atomic.Int64
	stop    func() // ends Run and waits for it; safe to call twice
}

func startBatcher(t *testing.T, r pipeline.LogsReceiver, size int, wait time.Duration) *testBatcher {
	t.Helper()
	tb := &testBatcher{metrics: Metrics{
		EntriesSent:  prometheus.NewCounter(prometheus.CounterOpts{Name: "entries"}),
		BatchesSent:  prometheus.NewCounter(prometheus.CounterOpts{Name: "batches"}),
		BatchesAcked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "acked"}, []string{"result"}),
		Oversized:    prometheus.NewCounter(prometheus.CounterOpts{Name: "oversized"}),
	}}
	tb.Batcher = New(Config[int64]{
		Limits:    func() (int, time.Duration) { return size, wait },
		Less:      less,
		Committed: func() { tb.commits.Add(1) },
		Metrics:   tb.metrics,
		Logger:    slog.New(slog.DiscardHandler),
	})
	tb.SetReceiver(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tb.Run(ctx); close(done) }()
	tb.stop = func() { cancel(); <-done }
	t.Cleanup(tb.stop)
	return tb
}

// send hands over a chunk of s at progress at holding lines.
func (tb *testBatcher) send(t *testing.T, s *Stream[int64], at int64, lines ...string) {
	t.Helper()
	c := tb.Chunk()
	c.Stream, c.At = s, at
	for _, l := range lines {
		c.Entries = append(c.Entries, pipeline.LogEntry{Line: l})
		c.Bytes += len(l)
	}
	require.True(t, tb.Send(context.Background(), c))
}

func lines(b pipeline.LogBatch) []string {
	out := make([]string, len(b.Entries))
	for i, e := range b.Entries {
		out[i] = e.Line
	}
	return out
}

// TestBatchSizeAndWait: a batch is sent once it holds the batch size, or the batch wait
// after its first chunk.
func TestBatchSizeAndWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		tb := startBatcher(t, r, 10, time.Second)
		s := &Stream[int64]{}
		tb.send(t, s, 4, "aaaa")
		time.Sleep(500 * time.Millisecond)
		tb.send(t, s, 8, "bbbb")
		synctest.Wait()
		require.Empty(t, r.taken(), "neither full nor due")
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		require.Len(t, r.taken(), 1, "due a second after its first chunk")
		require.Equal(t, []string{"aaaa", "bbbb"}, lines(r.taken()[0]))

		tb.send(t, s, 20, "cccccccccccc")
		synctest.Wait()
		require.Len(t, r.taken(), 2, "full: sent at once")
		require.Equal(t, 3.0, testutil.ToFloat64(tb.metrics.EntriesSent))
		require.Equal(t, 2.0, testutil.ToFloat64(tb.metrics.BatchesSent))
	})
}

// TestCommitsInBatchOrder: a stream's progress commits only once every earlier batch
// carrying it is acknowledged, whatever order the acknowledgements come in; an
// acknowledgement with an error commits too.
func TestCommitsInBatchOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		tb := startBatcher(t, r, 1, time.Second) // every chunk is a batch
		a, b := &Stream[int64]{}, &Stream[int64]{}
		tb.send(t, a, 10, "a1")
		tb.send(t, b, 5, "b1")
		tb.send(t, a, 20, "a2")
		synctest.Wait()
		sent := r.taken()
		require.Len(t, sent, 3)

		sent[2].Ack(nil)
		require.Zero(t, a.State().Committed, "the first batch of a is still due")
		require.Zero(t, tb.commits.Load())
		sent[1].Ack(errors.New("dropped downstream"))
		require.Equal(t, int64(5), b.State().Committed, "a permanent error commits all the same")
		sent[0].Ack(nil)
		require.Equal(t, State[int64]{Committed: 20, Handed: 20}, a.State())
		require.Equal(t, int64(2), tb.commits.Load())
		require.Equal(t, 2.0, testutil.ToFloat64(tb.metrics.BatchesAcked.WithLabelValues("success")))
		require.Equal(t, 1.0, testutil.ToFloat64(tb.metrics.BatchesAcked.WithLabelValues("error")))
	})
}

// TestProgressWithoutEntries: a chunk that only moves progress (skipped lines) is sent to
// nobody, and commits once the batches before it are acknowledged.
func TestProgressWithoutEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		tb := startBatcher(t, r, 1, time.Second)
		s := &Stream[int64]{}
		tb.send(t, s, 10, "line")
		tb.send(t, s, 30) // no entries
		time.Sleep(time.Second)
		synctest.Wait()
		require.Len(t, r.taken(), 1)
		require.Zero(t, s.State().Committed)
		r.taken()[0].Ack(nil)
		require.Equal(t, int64(30), s.State().Committed)
	})
}

// TestRefusedBatchIsRetried: a batch forward_to refuses is sent again after a backoff,
// never dropped.
func TestRefusedBatchIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{refuse: 2}
		tb := startBatcher(t, r, 1, time.Second)
		s := &Stream[int64]{}
		tb.send(t, s, 10, "x")
		synctest.Wait()
		require.Empty(t, r.taken())
		time.Sleep(time.Second)
		synctest.Wait()
		require.Empty(t, r.taken(), "the second retry waits twice as long")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Len(t, r.taken(), 1)
		require.Equal(t, 1.0, testutil.ToFloat64(tb.metrics.BatchesSent))
	})
}

// TestBackpressure: while forward_to blocks, a reader handing over a chunk waits; when the
// batcher stops, the batch it could not send is not committed.
func TestBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{block: true}
		tb := startBatcher(t, r, 1, time.Second)
		s := &Stream[int64]{}
		tb.send(t, s, 10, "x") // taken, then blocked in ConsumeLogs
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan bool)
		go func() {
			c := tb.Chunk()
			c.Stream, c.At, c.Entries = s, 20, append(c.Entries, pipeline.LogEntry{Line: "y"})
			done <- tb.Send(ctx, c)
		}()
		synctest.Wait()
		require.Equal(t, int64(1), tb.Blocked())
		cancel()
		require.False(t, <-done, "Send gives up when its context ends")
		require.Zero(t, tb.Blocked())
		require.Zero(t, s.State().Committed)
	})
}

// ackAll acknowledges every batch r took.
func (r *recorder) ackAll() {
	for _, b := range r.taken() {
		b.Ack(nil)
	}
}

// TestChunkSplitAtBatchSize: a chunk that does not fit in the batch is split; the batch
// carrying its first part holds back the commit of its progress.
func TestChunkSplitAtBatchSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		tb := startBatcher(t, r, 10, time.Second)
		s := &Stream[int64]{}
		tb.send(t, s, 12, "aaaa", "bbbb", "cccc")
		synctest.Wait()
		require.Len(t, r.taken(), 1, "full: sent at once")
		require.Equal(t, []string{"aaaa", "bbbb"}, lines(r.taken()[0]), "no batch holds more than the batch size")
		time.Sleep(time.Second)
		synctest.Wait()
		require.Len(t, r.taken(), 2, "the rest waits for the batch wait")
		require.Equal(t, []string{"cccc"}, lines(r.taken()[1]))

		r.taken()[1].Ack(nil)
		require.Zero(t, s.State().Committed, "the first part is not acknowledged yet")
		r.taken()[0].Ack(nil)
		require.Equal(t, int64(12), s.State().Committed)
		require.Zero(t, testutil.ToFloat64(tb.metrics.Oversized))
	})
}

// TestOversizedEntrySentAlone: an entry larger than the batch size is sent whole in a batch
// of its own, and counted; the entries around it go in other batches.
func TestOversizedEntrySentAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		tb := startBatcher(t, r, 10, time.Second)
		s := &Stream[int64]{}
		big := "yyyyyyyyyyyyyyy" // 15 bytes
		tb.send(t, s, 2, "xx")
		tb.send(t, s, 19, big, "zz")
		synctest.Wait()
		require.Len(t, r.taken(), 2)
		require.Equal(t, []string{"xx"}, lines(r.taken()[0]))
		require.Equal(t, []string{big}, lines(r.taken()[1]), "alone and whole")
		require.Equal(t, 1.0, testutil.ToFloat64(tb.metrics.Oversized))
		time.Sleep(time.Second)
		synctest.Wait()
		require.Len(t, r.taken(), 3)
		require.Equal(t, []string{"zz"}, lines(r.taken()[2]))
		r.ackAll()
		require.Equal(t, int64(19), s.State().Committed)
		require.Equal(t, 3.0, testutil.ToFloat64(tb.metrics.EntriesSent), "nothing dropped")
	})
}

// TestDrainWaitsForAcks: after Run stopped, Drain sends the batch being built and waits
// for the acknowledgements of every batch accepted, so that the progress committed when it
// returns includes them.
func TestDrainWaitsForAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		tb := startBatcher(t, r, 4, time.Hour)
		s := &Stream[int64]{}
		tb.send(t, s, 4, "aaaa") // full: sent, not acknowledged
		tb.send(t, s, 6, "bb")   // being built
		synctest.Wait()
		require.Len(t, r.taken(), 1)
		tb.stop()

		go func() {
			time.Sleep(2 * time.Second) // a sink acknowledging late
			r.ackAll()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		require.True(t, tb.Drain(ctx))
		require.Equal(t, 2*time.Second, time.Since(start), "returns at the last acknowledgement")
		require.Len(t, r.taken(), 2, "the batch being built is sent")
		require.Equal(t, []string{"bb"}, lines(r.taken()[1]))
		require.Equal(t, int64(6), s.State().Committed)
		require.Zero(t, tb.Unacknowledged())
	})
}

// TestDrainBounded: with a receiver that never acknowledges, Drain returns when its context
// ends, and nothing unacknowledged is committed.
func TestDrainBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{}
		tb := startBatcher(t, r, 4, time.Hour)
		s := &Stream[int64]{}
		tb.send(t, s, 4, "aaaa")
		tb.send(t, s, 8, "bbbb")
		synctest.Wait()
		r.taken()[0].Ack(nil)
		tb.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		require.False(t, tb.Drain(ctx))
		require.Equal(t, 5*time.Second, time.Since(start))
		require.Equal(t, int64(4), s.State().Committed, "only what was acknowledged")
		require.Equal(t, int64(1), tb.Unacknowledged())
	})
}

// TestDrainSendsUnaccepted: a batch forward_to had not accepted when Run stopped (it was
// blocked) is offered again by Drain, before the batch being built.
func TestDrainSendsUnaccepted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		blocked := &recorder{block: true}
		tb := startBatcher(t, blocked, 4, time.Hour)
		s := &Stream[int64]{}
		tb.send(t, s, 4, "aaaa") // taken, blocked in ConsumeLogs
		synctest.Wait()
		tb.stop()
		require.Zero(t, tb.Unacknowledged())

		r := &recorder{}
		tb.SetReceiver(r) // the receiver takes data again
		go func() {
			time.Sleep(time.Second)
			r.ackAll()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.True(t, tb.Drain(ctx))
		require.Len(t, r.taken(), 1)
		require.Equal(t, []string{"aaaa"}, lines(r.taken()[0]))
		require.Equal(t, int64(4), s.State().Committed)
	})
}
