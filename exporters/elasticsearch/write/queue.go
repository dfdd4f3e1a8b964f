package write

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// item is one accepted batch in the queue, with how far the sender got with it.
type item struct {
	entries  []pipeline.LogEntry
	bytes    int       // sum of entrySize
	oldest   time.Time // earliest entry timestamp, for the lag
	enqueued time.Time // for batch_wait
	ack      func(error)

	pos     int            // entries before pos are sent, or dropped and counted
	dropped map[string]int // reason → entries dropped for good
	sample  string         // the first drop's error, for the acknowledgement
}

// ackError is the error the batch is acknowledged with: nil when every entry was stored.
func (it *item) ackError() error {
	if len(it.dropped) == 0 {
		return nil
	}
	n := 0
	reasons := make([]string, 0, len(it.dropped))
	for r, c := range it.dropped {
		n += c
		reasons = append(reasons, fmt.Sprintf("%s: %d", r, c))
	}
	sort.Strings(reasons)
	return fmt.Errorf("elasticsearch.write: %d of %d entries dropped (%s): %s", n, len(it.entries), strings.Join(reasons, ", "), it.sample)
}

var (
	// errStopping: the component is stopping and accepts nothing more.
	errStopping = errors.New("elasticsearch.write is stopping")
)

// queue is the bounded queue between ConsumeLogs and the sender. ConsumeLogs waits while it
// is full; the sender takes entries from the head and finishes items in order.
type queue struct {
	mu       sync.Mutex
	capacity int
	items    []*item
	used     int           // bytes of the items queued
	pending  int           // entries not yet finished
	space    chan struct{} // closed (and replaced) when room is released
	notify   chan struct{} // signalled when an item is enqueued
	closed   bool
}

func newQueue(capacity int) *queue {
	return &queue{capacity: capacity, space: make(chan struct{}), notify: make(chan struct{}, 1)}
}

// setCapacity applies a new capacity (an update).
func (q *queue) setCapacity(n int) {
	q.mu.Lock()
	q.capacity = n
	q.wake()
	q.mu.Unlock()
}

// wake wakes the writers waiting for room; q.mu is held.
func (q *queue) wake() {
	close(q.space)
	q.space = make(chan struct{})
}

// push waits until it fits (anything fits an empty queue) and enqueues it.
func (q *queue) push(ctx context.Context, it *item) error {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return errStopping
		}
		if q.used == 0 || q.used+it.bytes <= q.capacity {
			it.enqueued = time.Now()
			q.items = append(q.items, it)
			q.used += it.bytes
			q.pending += len(it.entries)
			q.mu.Unlock()
			select {
			case q.notify <- struct{}{}:
			default:
			}
			return nil
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close makes push fail from now on, waking the waiters.
func (q *queue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		q.wake()
	}
	q.mu.Unlock()
}

// Head implements batchwait.Queue: the entries not yet sent, the bytes of the items
// holding them, and when the oldest item was enqueued. Only the sender calls it, between
// requests.
func (q *queue) Head() (entries, bytes int, since time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		since = q.items[0].enqueued
	}
	return q.pending, q.used, since
}

// Notify implements batchwait.Queue: signalled when an item is enqueued.
func (q *queue) Notify() <-chan struct{} { return q.notify }

// stats returns the entries and bytes in the queue and the oldest entry's timestamp.
func (q *queue) stats() (entries, bytes, capacity int, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		if oldest.IsZero() || it.oldest.Before(oldest) {
			oldest = it.oldest
		}
	}
	return q.pending, q.used, q.capacity, oldest
}

// part is the slice [start, end) of one queued item's entries that a request carries.
type part struct {
	it         *item
	start, end int
}

// fill encodes entries from the head of the queue into r until its body holds at least
// maxBytes (an entry larger than that goes alone).
func (q *queue) fill(r *request, maxBytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		end := it.pos
		for end < len(it.entries) && (len(r.ops) == 0 || len(r.buf) < maxBytes) {
			r.add(len(r.parts), &it.entries[end])
			end++
		}
		if end > it.pos {
			r.parts = append(r.parts, part{it: it, start: it.pos, end: end})
		}
		if end < len(it.entries) {
			break
		}
	}
}

// complete records that a request's parts are finished (sent, or dropped and counted, as
// the request's outcomes say), and acknowledges the items it completed, which are at the
// head of the queue.
func (q *queue) complete(r *request) {
	var finished []*item
	q.mu.Lock()
	for i, p := range r.parts {
		q.pending -= p.end - p.start
		p.it.pos = p.end
		if i >= len(r.dropped) {
			continue
		}
		for reason, n := range r.dropped[i] {
			if p.it.dropped == nil {
				p.it.dropped = map[string]int{}
			}
			p.it.dropped[reason] += n
			if p.it.sample == "" {
				p.it.sample = r.sample
			}
		}
	}
	for len(q.items) > 0 && q.items[0].pos == len(q.items[0].entries) {
		it := q.items[0]
		finished = append(finished, it)
		q.items[0] = nil
		q.items = q.items[1:]
		q.used -= it.bytes
	}
	if len(finished) > 0 {
		q.wake()
	}
	q.mu.Unlock()
	for _, it := range finished {
		it.ack(it.ackError())
	}
}

func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0
}
