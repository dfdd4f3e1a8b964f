package file

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// chunk is what a reader hands to the batcher after reading part of one file: the entries
// decoded from it, and the offset up to which the file is safe to commit once they (and
// every earlier entry of the file) are acknowledged.
type chunk struct {
	pos     *position
	gen     uint64
	entries []pipeline.LogEntry
	bytes   int   // of the lines in entries
	safe    int64 // -1: no change
}

var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// batcher gathers chunks from every reader into LogBatches for forward_to, and commits
// positions when the batches are acknowledged. It is the only goroutine that sends
// downstream: while ConsumeLogs blocks, the readers block on the channel and stop reading
// (backpressure, with memory bounded by one chunk per reader and one batch).
type batcher struct {
	in       chan *chunk
	receiver atomic.Pointer[pipeline.LogsReceiver]
	settings func() *settings
	table    *table
	metrics  *metrics
	logger   *slog.Logger
	// blocked counts readers waiting to hand over a chunk (for tests and the backpressure
	// gauge).
	blocked atomic.Int64
}

func newBatcher(table *table, m *metrics, logger *slog.Logger, s func() *settings) *batcher {
	return &batcher{in: make(chan *chunk), table: table, metrics: m, logger: logger, settings: s}
}

func (b *batcher) setReceiver(r pipeline.LogsReceiver) { b.receiver.Store(&r) }

// send hands c over; it returns false when ctx ended first.
func (b *batcher) send(ctx context.Context, c *chunk) bool {
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
type batch struct {
	entries []pipeline.LogEntry
	bytes   int
	records []*record
	byPos   map[*position]*record
}

func (bt *batch) reset() {
	bt.entries, bt.bytes, bt.records = nil, 0, nil
	clear(bt.byPos)
}

func (bt *batch) empty() bool { return len(bt.entries) == 0 && len(bt.records) == 0 }

// run builds and sends batches until ctx ends. The batch being built when ctx ends is not
// sent: its lines are not committed and are read again after a restart.
func (b *batcher) run(ctx context.Context) {
	cur := batch{byPos: map[*position]*record{}}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-b.in:
			if cur.empty() {
				timer.Reset(b.settings().batchWait)
			}
			b.add(&cur, c)
			if cur.bytes >= b.settings().batchSize {
				timer.Stop()
				if !b.flush(ctx, &cur) {
					return
				}
			}
		case <-timer.C:
			if !b.flush(ctx, &cur) {
				return
			}
		}
	}
}

func (b *batcher) add(cur *batch, c *chunk) {
	cur.entries = append(cur.entries, c.entries...)
	cur.bytes += c.bytes
	if c.safe >= 0 {
		r := cur.byPos[c.pos]
		if r == nil || r.gen != c.gen {
			if r = c.pos.newRecord(c.gen); r != nil {
				cur.byPos[c.pos] = r
				cur.records = append(cur.records, r)
			}
		}
		if r != nil {
			c.pos.extend(r, c.safe)
		}
	}
	clear(c.entries)
	*c = chunk{entries: c.entries[:0]}
	chunkPool.Put(c)
}

// flush sends the batch; it returns false when ctx ended before the batch was accepted.
func (b *batcher) flush(ctx context.Context, cur *batch) bool {
	if cur.empty() {
		return true
	}
	records := cur.records
	if len(cur.entries) == 0 {
		// Only offsets moved (malformed lines skipped, a partial line begun): nothing to
		// deliver, but the order of commits is kept.
		b.commit(records)
		cur.reset()
		return true
	}
	n := len(cur.entries)
	batch := pipeline.NewLogBatch(cur.entries, func(err error) {
		// An error means the receiver gave the lines up for good and counted them (a
		// permanent error): reading them again would not help, so positions move on.
		result := "success"
		if err != nil {
			result = "error"
		}
		b.metrics.batchesAcked.WithLabelValues(result).Inc()
		b.commit(records)
	})
	cur.reset()
	for retry := time.Second; ; {
		err := (*b.receiver.Load()).ConsumeLogs(ctx, batch)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false // not accepted, not committed: read again after a restart
		}
		// The contract says receivers block rather than fail; one that fails anyway is
		// retried (the batch was not accepted), never dropped.
		b.logger.Warn("forward_to refused a batch, retrying", "err", err, "retry_in", retry)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(retry):
		}
		retry = min(2*retry, 30*time.Second)
	}
	b.metrics.entriesSent.Add(float64(n))
	b.metrics.batchesSent.Inc()
	return true
}

// commit acknowledges the records of one batch.
func (b *batcher) commit(records []*record) {
	moved := false
	for _, r := range records {
		if r.pos.ack(r) {
			moved = true
		}
	}
	if moved {
		b.table.dirty.Store(true)
	}
}
