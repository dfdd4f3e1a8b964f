package logbatch

import "sync"

// Stream is the delivery state of one stream (a file, a container's log): how far its
// entries are acknowledged. A source keeps one per stream, in the position its positions
// file records, for longer than it reads the stream: acknowledgements arrive after a reader
// let the stream go.
//
// Progress commits in order: every batch that carries entries of the stream holds one
// record of it, appended in the order the batches are built and moved forward by each chunk
// of the stream the batch takes; an acknowledged record commits its progress once every
// record before it is acknowledged too.
//
// A generation starts with Reset (the stream's content was replaced, e.g. a truncated file):
// records of older generations commit nothing, and chunks read in them record nothing.
// Its methods are safe for concurrent use.
type Stream[P any] struct {
	mu        sync.Mutex
	gen       uint64
	committed P // every entry before it was acknowledged
	handed    P // the furthest progress handed to a batch in this generation
	pending   []*record[P]
}

// record is a stream's share of one batch: acknowledging the batch commits at.
type record[P any] struct {
	s     *Stream[P]
	gen   uint64
	at    P
	acked bool
}

// State is what a Stream holds at one moment.
type State[P any] struct {
	Gen       uint64 // the current generation (see Reset)
	Committed P      // every entry before it is acknowledged
	Handed    P      // the furthest progress handed to a batch in this generation
	Pending   int    // records not committed yet: batches carrying the stream still due
}

// Restore sets where the stream stands, without starting a generation: for a position read
// back from the positions file, before any chunk of the stream.
func (s *Stream[P]) Restore(at P) {
	s.mu.Lock()
	s.committed, s.handed = at, at
	s.mu.Unlock()
}

// Reset starts a new generation at start and returns it: the stream's content was replaced
// (or is read anew from start). Records of older generations no longer commit anything.
func (s *Stream[P]) Reset(start P) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.committed, s.handed = start, start
	s.pending = nil
	return s.gen
}

// State returns the stream's state.
func (s *Stream[P]) State() State[P] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State[P]{Gen: s.gen, Committed: s.committed, Handed: s.handed, Pending: len(s.pending)}
}

// newRecord appends a record for a batch being built, or returns nil when gen is stale
// (the stream was reset after the entries were read).
func (s *Stream[P]) newRecord(gen uint64) *record[P] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return nil
	}
	r := &record[P]{s: s, gen: gen, at: s.handed}
	s.pending = append(s.pending, r)
	return r
}

// extend moves r (a record of the batch being built) forward to at; progress never moves
// back.
func (s *Stream[P]) extend(r *record[P], at P, less func(a, b P) bool) {
	s.mu.Lock()
	if r.gen == s.gen && less(r.at, at) {
		r.at = at
		if less(s.handed, at) {
			s.handed = at
		}
	}
	s.mu.Unlock()
}

// ack marks r acknowledged and commits what became contiguous. It reports whether the
// committed progress moved.
func (s *Stream[P]) ack(r *record[P], less func(a, b P) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.acked = true
	if r.gen != s.gen {
		return false
	}
	moved := false
	n := 0
	for n < len(s.pending) && s.pending[n].acked {
		if at := s.pending[n].at; less(s.committed, at) {
			s.committed, moved = at, true
		}
		n++
	}
	if n > 0 {
		clear(s.pending[:n])
		s.pending = s.pending[n:]
	}
	return moved
}
