// Package logbatch is the acknowledged log batcher of the log sources (loki.source.file,
// loki.source.kubernetes). Readers hand it chunks: entries read from one stream (a file, a
// container's log) and how far the stream is read once they are delivered. It gathers the
// chunks of every reader into pipeline.LogBatch values, sends them to forward_to one at a
// time, and commits each stream's progress (its Stream) as the batches are acknowledged.
//
// The acknowledgement contract of pipeline.LogBatch, as the sources rely on it:
//
//   - A batch forward_to accepted (ConsumeLogs returned nil) is acknowledged exactly once,
//     when its entries are delivered or definitively dropped and counted downstream. An
//     acknowledgement with an error (a permanent refusal, e.g. Loki's 400) commits all the
//     same: reading the lines again would not help.
//   - A batch forward_to did not accept is never acknowledged. The batcher sends it again,
//     with backoff, until it is accepted or the batcher stops; a batch not sent by then is
//     not committed, and its lines are read again after a restart (at least once, never
//     lost).
//   - A stream's progress commits only once the batch carrying it and every earlier batch
//     carrying the same stream are acknowledged, so a saved position never passes a line
//     that was not delivered.
//   - The batcher owns a chunk once Send took it; the entries' label maps are shared by
//     every entry of a stream and never modified (see pipeline.LogEntry).
//
// Batch size: a batch holds at most the batch size of line bytes; a chunk that does not fit
// is split over two batches (its progress goes with its last entry). An entry larger than
// the batch size on its own is sent in a batch of its own, whole: it is neither cut nor
// dropped (the bound of a line is the source's max line size, and Loki's limits are per
// line and per request, not per batch), and it is counted in Metrics.Oversized.
//
// Backpressure: the batcher is the only goroutine that sends downstream. While ConsumeLogs
// blocks, Send blocks and the readers stop reading: memory is bounded by one chunk per
// reader and one batch.
//
// Stopping: when Run's context ends, the source stops its readers and calls Drain under its
// flush context: the batch Run could not get accepted and the batch it was building are
// sent, and Drain waits for the acknowledgements of every batch forward_to accepted, so that
// the positions saved afterwards include the last batches delivered.
package logbatch

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// Chunk is what a reader hands to the batcher after reading part of one stream: the entries,
// and the progress (a byte offset, a log cursor) that commits once they and every earlier
// entry of the stream are acknowledged.
type Chunk[P any] struct {
	Stream  *Stream[P]
	Gen     uint64 // the stream's generation the entries were read in (see Stream.Reset)
	At      P
	Entries []pipeline.LogEntry
	Bytes   int // line bytes of Entries
}

// Config configures a Batcher.
type Config[P any] struct {
	// Limits returns the batch size (line bytes that send a batch at once) and the batch
	// wait (how long after its first chunk a batch is sent, full or not). It is asked for
	// each batch, so that new arguments apply to the next one.
	Limits func() (size int, wait time.Duration)
	// Less orders the progress of one stream; progress only moves forward.
	Less func(a, b P) bool
	// Committed is called after an acknowledgement moved the committed progress of a
	// stream (the positions to save changed). It must not block.
	Committed func()
	Metrics   Metrics
	Logger    *slog.Logger
}

// Metrics are the batcher's counters, registered by the source; a nil one is not counted.
type Metrics struct {
	EntriesSent  prometheus.Counter     // entries of the batches forward_to accepted
	BatchesSent  prometheus.Counter     // batches forward_to accepted
	BatchesAcked *prometheus.CounterVec // acknowledged batches, by result (success, error)
	Oversized    prometheus.Counter     // entries larger than the batch size, sent alone
}

// Batcher gathers chunks into batches for forward_to and commits progress when the batches
// are acknowledged. Run runs it; readers Send to it.
type Batcher[P any] struct {
	cfg      Config[P]
	in       chan *Chunk[P]
	receiver atomic.Pointer[pipeline.LogsReceiver]
	pool     sync.Pool // *Chunk[P]
	// blocked counts readers waiting to hand over a chunk.
	blocked atomic.Int64
	// inflight counts the batches offered to or accepted by forward_to and not acknowledged
	// yet; acked is signalled (coalesced) at every acknowledgement.
	inflight atomic.Int64
	acked    chan struct{}
	warned   atomic.Bool // an oversized entry was logged

	// What Run left when its context ended, for Drain: the batch forward_to had not
	// accepted, and the batch being built.
	unsent *pipeline.LogBatch
	rest   batch[P]
}

// New returns a batcher; set its receiver before Run.
func New[P any](cfg Config[P]) *Batcher[P] {
	return &Batcher[P]{cfg: cfg, in: make(chan *Chunk[P]), acked: make(chan struct{}, 1)}
}

// SetReceiver sets where batches go from the next one on (forward_to changed).
func (b *Batcher[P]) SetReceiver(r pipeline.LogsReceiver) { b.receiver.Store(&r) }

// Chunk returns an empty chunk to fill and Send; its Entries keep the capacity of a chunk
// the batcher is done with.
func (b *Batcher[P]) Chunk() *Chunk[P] {
	if c, ok := b.pool.Get().(*Chunk[P]); ok {
		return c
	}
	return new(Chunk[P])
}

// Blocked returns how many readers wait to hand over a chunk (for the backpressure tests).
func (b *Batcher[P]) Blocked() int64 { return b.blocked.Load() }

// Send hands c over; it returns false when ctx ended first.
func (b *Batcher[P]) Send(ctx context.Context, c *Chunk[P]) bool {
	select {
	case b.in <- c:
		return true
	default:
	}
	b.blocked.Add(1)
	defer b.blocked.Add(-1)
	select {
	case b.in <- c:
		return true
	case <-ctx.Done():
		return false
	}
}

// batch is the batch being built.
type batch[P any] struct {
	entries  []pipeline.LogEntry
	bytes    int
	records  []*record[P] // in the order they were made
	byStream map[*Stream[P]]*record[P]
}

func (bt *batch[P]) reset() {
	bt.entries, bt.bytes, bt.records = nil, 0, nil
	clear(bt.byStream)
}

func (bt *batch[P]) empty() bool { return len(bt.entries) == 0 && len(bt.records) == 0 }

// Run builds and sends batches until ctx ends. What it has not sent when ctx ends (the
// batch being built, a batch forward_to did not accept) is kept for Drain; without Drain its
// lines are not committed and are read again after a restart.
func (b *Batcher[P]) Run(ctx context.Context) {
	cur := batch[P]{byStream: map[*Stream[P]]*record[P]{}}
	defer func() { b.rest = cur }()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-b.in:
			size, wait := b.cfg.Limits()
			if cur.empty() {
				timer.Reset(wait)
			}
			flushed, ok := b.take(ctx, &cur, c, size)
			if !ok {
				return
			}
			if flushed { // what is left of c starts a new batch
				timer.Stop()
				if !cur.empty() {
					timer.Reset(wait)
				}
			}
		case <-timer.C:
			if !b.flush(ctx, &cur) {
				return
			}
		}
	}
}

// take moves c into the batch, sending the batch whenever it holds size bytes of lines: a
// chunk that does not fit is split, its progress going with its last entry; an entry
// larger than size goes alone. It reports whether a batch was sent, and false in ok when
// ctx ended before a batch was accepted (the rest of c is then in cur).
func (b *Batcher[P]) take(ctx context.Context, cur *batch[P], c *Chunk[P], size int) (flushed, ok bool) {
	defer b.recycle(c)
	if cur.bytes+c.Bytes <= size {
		b.add(cur, c, c.Entries, c.Bytes, true)
		if cur.bytes < size {
			return false, true
		}
		return true, b.flush(ctx, cur)
	}
	entries := c.Entries
	for {
		room := size - cur.bytes
		n, bytes := 0, 0
		for n < len(entries) && bytes+len(entries[n].Line) <= room {
			bytes += len(entries[n].Line)
			n++
		}
		last := n == len(entries)
		if !last && n == 0 && len(cur.entries) == 0 {
			// An entry larger than a whole batch: sent alone, whole.
			n, bytes, last = 1, len(entries[0].Line), len(entries) == 1
			b.oversized(bytes, size)
		}
		b.add(cur, c, entries[:n], bytes, last)
		entries = entries[n:]
		if last && cur.bytes < size {
			return flushed, true
		}
		flushed = true
		if !b.flush(ctx, cur) {
			if !last {
				b.add(cur, c, entries, lineBytes(entries), true)
			}
			return true, false
		}
		if last {
			return true, true
		}
	}
}

// add moves entries (bytes of lines) of c into the batch, with the progress of c when
// progress is set (its last entries), and a record of c's stream either way (one per
// stream and batch, made when the stream's first chunk arrives, so that records are in the
// order batches are built, and a batch carrying part of a chunk holds back the commits of
// the batches after it).
func (b *Batcher[P]) add(cur *batch[P], c *Chunk[P], entries []pipeline.LogEntry, bytes int, progress bool) {
	cur.entries = append(cur.entries, entries...)
	cur.bytes += bytes
	if s := c.Stream; s != nil {
		r := cur.byStream[s]
		if r == nil || r.gen != c.Gen {
			if r = s.newRecord(c.Gen); r != nil {
				cur.byStream[s] = r
				cur.records = append(cur.records, r)
			}
		}
		if r != nil && progress {
			s.extend(r, c.At, b.cfg.Less)
		}
	}
}

// recycle gives c back to the pool.
func (b *Batcher[P]) recycle(c *Chunk[P]) {
	clear(c.Entries)
	*c = Chunk[P]{Entries: c.Entries[:0]}
	b.pool.Put(c)
}

// oversized counts an entry of bytes larger than the batch size, and logs the first one.
func (b *Batcher[P]) oversized(bytes, size int) {
	if m := b.cfg.Metrics.Oversized; m != nil {
		m.Inc()
	}
	if !b.warned.Swap(true) {
		b.cfg.Logger.Warn("an entry larger than the batch size is sent in a batch of its own (logged once, counted)",
			"entry_bytes", bytes, "batch_size", size)
	}
}

func lineBytes(entries []pipeline.LogEntry) int {
	n := 0
	for _, e := range entries {
		n += len(e.Line)
	}
	return n
}

// flush sends the batch; it returns false when ctx ended before the batch was accepted (the
// batch is then kept for Drain).
func (b *Batcher[P]) flush(ctx context.Context, cur *batch[P]) bool {
	if cur.empty() {
		return true
	}
	records := cur.records
	if len(cur.entries) == 0 {
		// Only progress moved (malformed lines skipped, a partial line begun): nothing to
		// deliver, but the order of commits is kept.
		b.commit(records)
		cur.reset()
		return true
	}
	lb := pipeline.NewLogBatch(cur.entries, func(err error) {
		// An error means the receiver gave the lines up for good and counted them (a
		// permanent error): reading them again would not help, so progress moves on.
		result := "success"
		if err != nil {
			result = "error"
		}
		if m := b.cfg.Metrics.BatchesAcked; m != nil {
			m.WithLabelValues(result).Inc()
		}
		b.commit(records)
		b.inflight.Add(-1)
		select {
		case b.acked <- struct{}{}:
		default:
		}
	})
	cur.reset()
	if !b.send(ctx, lb) {
		b.unsent = &lb
		return false
	}
	return true
}

// send offers lb to forward_to until it is accepted; it returns false when ctx ended first
// (lb was not accepted and will not be acknowledged).
func (b *Batcher[P]) send(ctx context.Context, lb pipeline.LogBatch) bool {
	for retry := time.Second; ; {
		b.inflight.Add(1) // before: the acknowledgement may come before ConsumeLogs returns
		err := (*b.receiver.Load()).ConsumeLogs(ctx, lb)
		if err == nil {
			break
		}
		b.inflight.Add(-1) // not accepted: never acknowledged
		if ctx.Err() != nil {
			return false // not accepted, not committed: read again after a restart
		}
		// The contract says receivers block rather than fail; one that fails anyway is
		// retried (the batch was not accepted), never dropped.
		b.cfg.Logger.Warn("forward_to refused a batch, retrying", "err", err, "retry_in", retry)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(retry):
		}
		retry = min(2*retry, 30*time.Second)
	}
	if m := b.cfg.Metrics.EntriesSent; m != nil {
		m.Add(float64(len(lb.Entries)))
	}
	if m := b.cfg.Metrics.BatchesSent; m != nil {
		m.Inc()
	}
	return true
}

// Drain finishes what Run left when its context ended, for a source whose readers stopped:
// it sends the batch forward_to had not accepted and the batch Run was building, then waits
// until every batch forward_to accepted is acknowledged. It returns whether all of it was
// acknowledged before ctx ended; what was not stays uncommitted (read again after a
// restart). Call it after Run returned and no Send is under way; the source saves its
// positions afterwards.
func (b *Batcher[P]) Drain(ctx context.Context) bool {
	if b.unsent != nil {
		if !b.send(ctx, *b.unsent) {
			return false
		}
		b.unsent = nil
	}
	if !b.flush(ctx, &b.rest) {
		return false
	}
	for b.inflight.Load() > 0 {
		select {
		case <-b.acked:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// SaveMargin is the part of the stop's deadline Finish leaves to the source for writing its
// positions file.
const SaveMargin = time.Second

// Finish is Drain at a source's stop, under fctx (the source's pipeline.FlushContext) less
// SaveMargin, so that the positions can still be saved by the deadline. It logs what it
// leaves unacknowledged and reports whether everything was acknowledged.
func (b *Batcher[P]) Finish(fctx context.Context) bool {
	ctx := fctx
	if dl, ok := fctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(fctx, dl.Add(-SaveMargin))
		defer cancel()
	}
	start := time.Now()
	if b.Drain(ctx) {
		return true
	}
	b.cfg.Logger.Warn("stopped before forward_to acknowledged every batch; their lines are not committed and are sent again after a restart",
		"unacknowledged_batches", b.inflight.Load(), "waited", time.Since(start).Round(time.Millisecond))
	return false
}

// Unacknowledged returns how many batches forward_to accepted (or is being offered) that
// are not acknowledged yet.
func (b *Batcher[P]) Unacknowledged() int64 { return b.inflight.Load() }

// commit acknowledges the records of one batch.
func (b *Batcher[P]) commit(records []*record[P]) {
	moved := false
	for _, r := range records {
		if r.s.ack(r, b.cfg.Less) {
			moved = true
		}
	}
	if moved && b.cfg.Committed != nil {
		b.cfg.Committed()
	}
}
