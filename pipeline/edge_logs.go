package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// KindLogs: the referenced component accepts log batches (it implements LogsReceiver).
const KindLogs EdgeKind = "logs"

// LogEntry is one log line with its stream labels.
type LogEntry struct {
	// Labels are the stream labels (namespace, pod, container, stream, job, …). The map is
	// shared by every entry of a stream and is never modified once sent: a receiver that
	// changes labels builds a new map (loki.process does). Sources hand out one map per
	// stream instead of a copy per line.
	Labels             model.LabelSet
	Timestamp          time.Time
	Line               string
	StructuredMetadata labels.Labels // e.g. the pod uid; not indexed by Loki
}

// LogBatch is a batch of entries on its way to the sinks, carrying an acknowledgement.
//
// Ownership: the sender hands the batch over and must not touch Entries afterwards. A
// receiver may modify the entries in place only when it is the single receiver; a fan-out
// to several receivers gives each a copy of the slice. Label maps are never modified (see
// LogEntry.Labels). Every receiver that accepted a
// batch (ConsumeLogs returned nil) calls Ack exactly once: when the entries are durably
// delivered, or definitively dropped and counted (a permanent error, e.g. Loki's 400). A
// source commits its read positions only after the Ack of every batch before them.
type LogBatch struct {
	Entries []LogEntry
	Ack     func(err error) // never nil once sent; use NewLogBatch
}

// NewLogBatch returns a batch whose Ack calls done once (later calls are ignored).
func NewLogBatch(entries []LogEntry, done func(err error)) LogBatch {
	var once sync.Once
	return LogBatch{Entries: entries, Ack: func(err error) {
		once.Do(func() {
			if done != nil {
				done(err)
			}
		})
	}}
}

// LogsReceiver is implemented by components whose registration exports KindLogs.
type LogsReceiver interface {
	// ConsumeLogs accepts a batch. It blocks while the receiver is full (backpressure) and
	// returns ctx's error if ctx ends first, in which case the batch was not accepted and
	// will not be acknowledged.
	ConsumeLogs(ctx context.Context, b LogBatch) error
}

// logsHandle is the stable LogsReceiver of one component id.
type logsHandle struct {
	id     string
	target atomic.Pointer[LogsReceiver]
}

func (h *logsHandle) set(r LogsReceiver) {
	if r == nil {
		h.target.Store(nil)
		return
	}
	h.target.Store(&r)
}

// ConsumeLogs waits for the component to be running (it may be restarting) rather than
// dropping: sources are paused, not lossy, while a sink restarts.
func (h *logsHandle) ConsumeLogs(ctx context.Context, b LogBatch) error {
	for {
		if r := h.target.Load(); r != nil {
			return (*r).ConsumeLogs(ctx, b)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("component %s is not running: %w", h.id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logsFanout sends a copy of each batch to every receiver and acknowledges the original
// once all of them have acknowledged theirs (with the errors joined).
type logsFanout []LogsReceiver

func (f logsFanout) ConsumeLogs(ctx context.Context, b LogBatch) error {
	var (
		mu      sync.Mutex
		pending = len(f)
		errs    []error
	)
	ack := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		if pending--; pending == 0 {
			b.Ack(errors.Join(errs...))
		}
	}
	for i, r := range f {
		entries := b.Entries
		if i < len(f)-1 {
			entries = append([]LogEntry(nil), b.Entries...)
		}
		if err := r.ConsumeLogs(ctx, NewLogBatch(entries, ack)); err != nil {
			// Not accepted: the receivers already holding a copy still deliver it, the
			// caller re-sends the batch, and the duplicates are bounded by this batch.
			for range len(f) - i {
				ack(err)
			}
			return err
		}
	}
	return nil
}
