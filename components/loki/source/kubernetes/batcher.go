package kubernetes

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// Batch limits: a batch is sent when it holds batchBytes of lines, or batchWait after its
// first line (a variable for tests).
const batchBytes = 1 << 20

var batchWait = time.Second

// chunk is what a tailer hands to the batcher after reading part of a stream: the entries,
// and the cursor after the last of them, committed once they (and every earlier entry of the
// stream) are acknowledged.
type chunk struct {
	pos     *position
	entries []pipeline.LogEntry
	bytes   int
	at      cursor
}

// batcher gathers chunks from every tailer into LogBatches for forward_to and commits
// cursors when the batches are acknowledged. It is the only goroutine that sends
// downstream: while ConsumeLogs blocks, tailers block handing over chunks and stop reading
// their streams (backpressure: memory is bounded by one chunk per tailer and one batch).
type batcher struct {
	in       chan *chunk
	receiver atomic.Pointer[pipeline.LogsReceiver]
	table    *table
	metrics  *metrics
	logger   *slog.Logger
}

func newBatcher(t *table, m *metrics, logger *slog.Logger) *batcher {
	return &batcher{in: make(chan *chunk), table: t, metrics: m, logger: logger}
}

func (b *batcher) setReceiver(r pipeline.LogsReceiver) { b.receiver.Store(&r) }

// send hands c over; it returns false when ctx ended first.
func (b *batcher) send(ctx context.Context, c *chunk) bool {
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
	records map[*position]*record
}

// run builds and sends batches until ctx ends. The batch being built when ctx ends is not
// sent: its lines are not committed and are read again after a restart.
func (b *batcher) run(ctx context.Context) {
	cur := batch{records: map[*position]*record{}}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-b.in:
			if len(cur.entries) == 0 {
				timer.Reset(batchWait)
			}
			cur.entries = append(cur.entries, c.entries...)
			cur.bytes += c.bytes
			// Records are created in the order batches are built, so one per stream and
			// batch, moved to the stream's latest cursor, keeps commits in order.
			if r := cur.records[c.pos]; r != nil {
				r.at = c.at
			} else {
				cur.records[c.pos] = c.pos.newRecord(c.at)
			}
			if cur.bytes >= batchBytes {
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

// flush sends the batch; it returns false when ctx ended before the batch was accepted.
func (b *batcher) flush(ctx context.Context, cur *batch) bool {
	if len(cur.entries) == 0 {
		return true
	}
	records := make([]*record, 0, len(cur.records))
	for _, r := range cur.records {
		records = append(records, r)
	}
	n := len(cur.entries)
	lb := pipeline.NewLogBatch(cur.entries, func(err error) {
		// An error means the receiver gave the lines up for good and counted them (a
		// permanent error): reading them again would not help, so the cursors move on.
		result := "success"
		if err != nil {
			result = "error"
		}
		b.metrics.batchesAcked.WithLabelValues(result).Inc()
		moved := false
		for _, r := range records {
			if r.pos.ack(r) {
				moved = true
			}
		}
		if moved {
			b.table.dirty.Store(true)
		}
	})
	cur.entries, cur.bytes, cur.records = nil, 0, map[*position]*record{}
	for retry := time.Second; ; {
		err := (*b.receiver.Load()).ConsumeLogs(ctx, lb)
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
	return true
}
