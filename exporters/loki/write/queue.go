package write

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// item is one accepted batch, as every endpoint queues it: the entries that can be sent,
// with their stream label strings. It is shared by the endpoints and never modified.
type item struct {
	entries []pipeline.LogEntry
	streams []string  // stream label string of entries[i]
	bytes   int       // sum of entrySize
	oldest  time.Time // earliest entry timestamp, for the lag
	tracker *batchTracker
}

// batchTracker acknowledges a batch once every endpoint it was queued on is done with it.
type batchTracker struct {
	mu        sync.Mutex
	remaining int
	errs      []error
	ack       func(error)
}

// done records that one endpoint finished with the batch; err is a permanent failure.
func (t *batchTracker) done(err error) {
	t.mu.Lock()
	if err != nil {
		t.errs = append(t.errs, err)
	}
	t.remaining--
	last := t.remaining == 0
	t.mu.Unlock()
	if last {
		t.ack(errors.Join(t.errs...))
	}
}

// queued is an item in one endpoint's queue, with how far that endpoint has sent it.
type queued struct {
	it       *item
	pos      int       // entries before pos are sent (or dropped)
	err      error     // permanent failures so far
	enqueued time.Time // when it entered the queue, for batch_wait
}

var (
	// errStopping: the component is stopping and accepts nothing more.
	errStopping = errors.New("loki.write is stopping")
	// errRemoved: the endpoint was removed by a configuration update.
	errRemoved = errors.New("endpoint removed")
)

// queue is an endpoint's bounded queue. ConsumeLogs reserves room (waiting while it is
// full) and then enqueues; the sender takes from the head and releases the room of each
// item it finishes.
type queue struct {
	capacity int

	mu       sync.Mutex
	items    []*queued
	used     int           // bytes reserved or queued
	pending  int           // entries not yet finished
	unsent   int           // bytes of those entries
	space    chan struct{} // closed (and replaced) when room is released
	notify   chan struct{} // signalled when an item is enqueued
	closeErr error         // set once the queue accepts nothing more
	dropErr  error         // set by abandon: items enqueued later finish at once
}

func newQueue(capacity int) *queue {
	return &queue{capacity: capacity, space: make(chan struct{}), notify: make(chan struct{}, 1)}
}

// reserve waits until n bytes fit (any amount fits an empty queue) and reserves them.
func (q *queue) reserve(ctx context.Context, n int) error {
	for {
		q.mu.Lock()
		if q.closeErr != nil {
			q.mu.Unlock()
			return q.closeErr
		}
		if q.used == 0 || q.used+n <= q.capacity {
			q.used += n
			q.mu.Unlock()
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

// unreserve gives back a reservation that will not be used.
func (q *queue) unreserve(n int) { q.release(n) }

func (q *queue) release(n int) {
	q.mu.Lock()
	q.used -= n
	close(q.space)
	q.space = make(chan struct{})
	q.mu.Unlock()
}

// enqueue appends an item whose room was reserved.
func (q *queue) enqueue(it *item) {
	q.mu.Lock()
	if err := q.dropErr; err != nil {
		// Reserved just before the endpoint was removed and abandoned.
		q.mu.Unlock()
		q.release(it.bytes)
		it.tracker.done(err)
		return
	}
	q.items = append(q.items, &queued{it: it, enqueued: time.Now()})
	q.pending += len(it.entries)
	q.unsent += it.bytes
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// close makes reserve fail with err from now on, waking the waiters.
func (q *queue) close(err error) {
	q.mu.Lock()
	if q.closeErr == nil {
		q.closeErr = err
		close(q.space)
		q.space = make(chan struct{})
	}
	q.mu.Unlock()
}

// Head implements batchwait.Queue: the entries and bytes not yet sent and when the oldest
// of them was enqueued. Only the sender calls it, between requests.
func (q *queue) Head() (entries, bytes int, since time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		since = q.items[0].enqueued
	}
	return q.pending, q.unsent, since
}

// Notify implements batchwait.Queue: signalled when an item is enqueued.
func (q *queue) Notify() <-chan struct{} { return q.notify }

// stats returns the entries and bytes in the queue and the oldest entry's timestamp.
func (q *queue) stats() (entries, bytes int, oldest time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, qi := range q.items {
		if oldest.IsZero() || qi.it.oldest.Before(oldest) {
			oldest = qi.it.oldest
		}
	}
	return q.pending, q.used, oldest
}

// part is the slice of one queued item that a request carries.
type part struct {
	q   *queued
	end int
}

// fill adds entries from the head of the queue to enc until it holds at least maxBytes
// (an entry larger than that goes alone), and returns what the request carries.
func (q *queue) fill(enc *encoder, maxBytes int, parts []part) []part {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, qi := range q.items {
		end := qi.pos
		for end < len(qi.it.entries) {
			if enc.entries > 0 && enc.bytes+entrySize(&qi.it.entries[end]) > maxBytes {
				break
			}
			enc.add(qi.it.streams[end], &qi.it.entries[end])
			end++
		}
		if end > qi.pos {
			parts = append(parts, part{q: qi, end: end})
		}
		if end < len(qi.it.entries) {
			break
		}
	}
	return parts
}

// complete records that a request's parts (bytes in all) were sent (err nil) or refused
// for good, and finishes the items it completed, which are at the head of the queue.
func (q *queue) complete(parts []part, bytes int, err error) {
	var finished []*queued
	q.mu.Lock()
	q.unsent -= bytes
	for _, p := range parts {
		q.pending -= p.end - p.q.pos
		p.q.pos = p.end
		if err != nil {
			p.q.err = err
		}
	}
	for len(q.items) > 0 && q.items[0].pos == len(q.items[0].it.entries) {
		finished = append(finished, q.items[0])
		q.items[0] = nil
		q.items = q.items[1:]
	}
	q.mu.Unlock()
	for _, qi := range finished {
		q.release(qi.it.bytes)
		qi.it.tracker.done(qi.err)
	}
}

// abandon finishes every queued item with err, delivered or not: used when the endpoint was
// removed from the configuration, so its batches no longer wait for it.
func (q *queue) abandon(err error) {
	q.mu.Lock()
	items := q.items
	q.items, q.pending, q.unsent = nil, 0, 0
	q.dropErr = err
	q.mu.Unlock()
	for _, qi := range items {
		q.release(qi.it.bytes)
		qi.it.tracker.done(err)
	}
}

// closedWith returns the error the queue was closed with, nil while it is open.
func (q *queue) closedWith() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closeErr
}

func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0
}
