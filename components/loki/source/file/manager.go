package file

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// queue states of a tracker.
type qstate uint8

const (
	stateIdle     qstate = iota // nothing to do until woken
	stateQueued                 // waiting for a reader
	stateReading                // a reader has it
	stateReleased               // closed; forgotten by the manager
)

// manager knows every open tracker and schedules them on the readers. A tracker is read by
// one reader at a time, only when something woke it: an fsnotify event in its directory,
// the poll, a partial line's flush timer, or a reconcile. Idle files cost no goroutine and
// no CPU.
//
// Lock order: manager.mu, then table.mu, then position.mu, then the position's Stream.
type manager struct {
	mu       sync.Mutex
	byID     map[fileID]*tracker
	byPath   map[string]*tracker   // wanted trackers by (real) path
	draining map[*tracker]struct{} // unwanted, being drained before release
	queue    []*tracker
	ready    chan struct{} // signalled (coalesced) when queue becomes non-empty
}

func newManager() *manager {
	return &manager{
		byID:     map[fileID]*tracker{},
		byPath:   map[string]*tracker{},
		draining: map[*tracker]struct{}{},
		ready:    make(chan struct{}, 1),
	}
}

func (m *manager) enqueueLocked(t *tracker) {
	if t.held || t.waiting {
		return // queued when let go
	}
	switch t.state {
	case stateIdle:
		t.state = stateQueued
		m.queue = append(m.queue, t)
		select {
		case m.ready <- struct{}{}:
		default:
		}
	case stateReading:
		t.again = true
	}
}

// enqueue wakes t.
func (m *manager) enqueue(t *tracker) {
	m.mu.Lock()
	m.enqueueLocked(t)
	m.mu.Unlock()
}

// wake wakes the tracker at path and the trackers being drained in its directory: a rotated
// file keeps its old tracker while it may still be written through an open descriptor, and
// its new name is not indexed.
func (m *manager) wake(path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.byPath[path]; t != nil {
		m.enqueueLocked(t)
	}
	if len(m.draining) > 0 {
		dir := filepath.Dir(path)
		for t := range m.draining {
			if t.dir == dir {
				m.enqueueLocked(t)
			}
		}
	}
}

// wakeAll wakes every tracker (the poll).
func (m *manager) wakeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.byID {
		m.enqueueLocked(t)
	}
}

// next returns the next tracker to read, marked reading, or nil once ctx ends.
func (m *manager) next(ctx context.Context) *tracker {
	for {
		m.mu.Lock()
		if len(m.queue) > 0 {
			t := m.queue[0]
			m.queue[0] = nil
			m.queue = m.queue[1:]
			if len(m.queue) > 0 {
				// Let another reader take the next one.
				select {
				case m.ready <- struct{}{}:
				default:
				}
			}
			t.state = stateReading
			m.mu.Unlock()
			return t
		}
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-m.ready:
		}
	}
}

// queueOpened queues the files a reconcile opened. The files of one stream opened together
// (at start-up: rotations made while sonde was stopped, and the live file) are read in
// order, oldest first: each waits until the one before it was read to its end once, so
// that its lines are handed over first. A file that cannot be read lets the next one go
// all the same.
func (m *manager) queueOpened(opened []*tracker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	streams := map[string][]*tracker{}
	for _, t := range opened {
		s := rotationBase(t.path)
		streams[s] = append(streams[s], t)
	}
	for _, ts := range streams {
		slices.SortFunc(ts, func(a, b *tracker) int { return strings.Compare(rotationRank(a.path), rotationRank(b.path)) })
		for i, t := range ts[1:] {
			t.waiting, ts[i].successor = true, t
		}
	}
	for _, t := range opened {
		m.enqueueLocked(t)
	}
}

// letSuccessorGo queues the file waiting for t, if any: t was read to its end once.
func (m *manager) letSuccessorGo(t *tracker) {
	if s := t.successor; s != nil {
		t.successor, s.waiting = nil, false
		if s.state != stateReleased {
			m.enqueueLocked(s)
		}
	}
}

// done returns t from a reader: queued again when it was woken meanwhile or has more to
// read (more), idle otherwise. The file of its stream waiting for it goes once it has
// nothing more to read.
func (m *manager) done(t *tracker, more bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !more {
		m.letSuccessorGo(t)
	}
	if t.state != stateReading {
		return // released
	}
	t.state = stateIdle
	if more || t.again {
		t.again = false
		m.enqueueLocked(t)
	}
}

// releasable decides, for a reader that drained t to its end, whether t is let go: no glob
// matches it any more and it has not grown for grace since (a rotated file may still be
// written through the runtime's open descriptor for a moment). If so, t is forgotten here
// and the reader must close it.
func (m *manager) releasable(t *tracker, now time.Time, grace time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.unwanted {
		return false
	}
	quietSince := t.unwantedSince
	if t.lastGrowth.After(quietSince) {
		quietSince = t.lastGrowth
	}
	if now.Sub(quietSince) < grace {
		return false
	}
	m.forgetLocked(t)
	return true
}

// forget lets t go at once (a compressed file read to its end); the reader must close it.
func (m *manager) forget(t *tracker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked(t)
}

func (m *manager) forgetLocked(t *tracker) {
	t.state = stateReleased
	delete(m.byID, t.id)
	delete(m.draining, t)
	if m.byPath[t.path] == t {
		delete(m.byPath, t.path)
	}
}

// count returns the number of open trackers.
func (m *manager) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}

// closeAll closes every tracker; the readers must have stopped.
func (m *manager) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, t := range m.byID {
		t.close()
		t.state = stateReleased
		delete(m.byID, id)
	}
	clear(m.byPath)
	clear(m.draining)
	m.queue = nil
}
