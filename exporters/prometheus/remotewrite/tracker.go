package remotewrite

import (
	"sync"
	"sync/atomic"
)

// recEntry is a samples record read from the WAL; pending counts its samples that are
// neither acknowledged nor dropped.
type recEntry struct {
	pos     walPos // end of the record
	pending atomic.Int64
}

// tracker turns acknowledgements, which arrive per shard and out of WAL order, into the
// acknowledged position: the end of the last record before which everything is done.
type tracker struct {
	mu    sync.Mutex
	queue []*recEntry
	head  int
	acked walPos
}

// push appends a record in WAL order; its pending count must be set.
func (t *tracker) push(e *recEntry) {
	t.mu.Lock()
	t.queue = append(t.queue, e)
	t.popLocked()
	t.mu.Unlock()
}

// pushDone records a position with nothing to send (a series record, a segment start).
func (t *tracker) pushDone(pos walPos) {
	t.mu.Lock()
	if t.head == len(t.queue) {
		t.acked = pos
	} else {
		t.queue = append(t.queue, &recEntry{pos: pos})
	}
	t.mu.Unlock()
}

// done marks n samples of e as acknowledged or dropped.
func (t *tracker) done(e *recEntry, n int) {
	if e.pending.Add(int64(-n)) == 0 {
		t.mu.Lock()
		t.popLocked()
		t.mu.Unlock()
	}
}

func (t *tracker) popLocked() {
	for t.head < len(t.queue) && t.queue[t.head].pending.Load() == 0 {
		t.acked = t.queue[t.head].pos
		t.queue[t.head] = nil
		t.head++
	}
	switch {
	case t.head == len(t.queue):
		t.queue, t.head = t.queue[:0], 0
	case t.head >= 1024 && t.head*2 >= len(t.queue):
		n := copy(t.queue, t.queue[t.head:])
		clear(t.queue[n:])
		t.queue, t.head = t.queue[:n], 0
	}
}

func (t *tracker) position() walPos {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acked
}
