package remotewrite

import (
	"context"
	"sync"
)

// sampleQueue is a shard's bounded input. The WAL reader puts the shard's samples of one
// record in one call and the shard moves up to a batch at a time: a channel of single
// samples cost a send, a receive and a select per sample (9% of the agent's CPU at 100k
// series).
//
// It holds at most capacity samples plus the part of one record that came in while it was
// nearly full.
//
// The shard is woken only when it has something to do: when samples come into an empty
// queue (it starts the batch deadline), when a whole batch is queued, and at close. Waking
// it for every record was two goroutine switches per scrape, for nothing.
type sampleQueue struct {
	capacity int
	batch    int           // samples that make a batch
	ready    chan struct{} // signalled as said above
	space    chan struct{} // signalled when samples were taken

	mu     sync.Mutex
	items  []queuedSample
	head   int // items[:head] were taken
	closed bool
}

// keepQueueCap is the most entries a drained queue keeps room for: a few records' worth.
const keepQueueCap = 4096

func newSampleQueue(capacity, batch int) *sampleQueue {
	return &sampleQueue{
		capacity: capacity,
		batch:    batch,
		ready:    make(chan struct{}, 1),
		space:    make(chan struct{}, 1),
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// put queues items, waiting while the queue is full; false if ctx ended first (nothing was
// queued then). The caller keeps items: they are copied.
func (q *sampleQueue) put(ctx context.Context, items []queuedSample) bool {
	q.mu.Lock()
	for len(q.items)-q.head >= q.capacity {
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-q.space:
		}
		q.mu.Lock()
	}
	if q.head > 0 && len(q.items)+len(items) > cap(q.items) {
		// Reuse the taken front before growing.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	was := len(q.items) - q.head
	q.items = append(q.items, items...)
	q.mu.Unlock()
	if was == 0 || (was < q.batch && was+len(items) >= q.batch) {
		signal(q.ready)
	}
	return true
}

// length returns the samples queued, and whether the queue is closed.
func (q *sampleQueue) length() (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head, q.closed
}

// close tells the shard that nothing more will be put: it sends what is queued and stops.
func (q *sampleQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	signal(q.ready)
}

// moveTo appends up to n queued samples to dst. It reports whether more are queued, and
// whether the queue is closed and empty.
func (q *sampleQueue) moveTo(dst *[]queuedSample, n int) (more, done bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.items)-q.head)
	if n > 0 {
		taken := q.items[q.head : q.head+n]
		*dst = append(*dst, taken...)
		clear(taken) // the queue must not keep collected series alive
		q.head += n
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0
			if cap(q.items) > keepQueueCap {
				// A backlog filled it: let the array go now that it is empty, rather than keep
				// capacity × 64 bytes per shard for good (TestMemoryReturnsAfterOutage).
				q.items = nil
			}
		}
		signal(q.space)
	}
	queued := len(q.items) - q.head
	return queued > 0, q.closed && queued == 0
}
