package remotewrite

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// Special values of memSeries.lastSegment.
const (
	segNotLogged = -1 // the series record has not been written to the WAL yet
	segRemoved   = -2 // garbage-collected; an appender holding it must look the labels up again
	segLogging   = -3 // its series record is part of the commit in progress
)

// memSeries is the one in-memory copy of a series, shared by the appender (labels → ref,
// out-of-order check) and the WAL reader (ref → labels to send). It is kept small on
// purpose: 48 bytes plus the labels, which are the caller's immutable labels, not a copy.
type memSeries struct {
	lset labels.Labels
	next *memSeries // next series in the same hash bucket (hash collisions)
	ref  chunks.HeadSeriesRef

	// lastTs is the newest timestamp committed for the series, in milliseconds.
	lastTs atomic.Int64
	// lastSegment is an upper bound of the WAL segment holding the series' newest sample
	// (or its series record), or one of the seg* constants above. Once the acknowledged
	// marker is past it, nothing unsent refers to the series any more.
	lastSegment atomic.Int32
	// seenEpoch is the truncation epoch of the last commit with a sample of the series.
	seenEpoch atomic.Uint32
}

// minTimestamp is the lastTs of a series without samples.
const minTimestamp = math.MinInt64

const tableStripes = 64 // lock stripes; a power of two

// seriesTable maps labels to series (by hash, collisions chained) and refs to series.
// Lock order: a hash stripe before the ref index, never the reverse.
type seriesTable struct {
	byHash  [tableStripes]hashStripe
	byRef   refIndex
	lastRef atomic.Uint64
	active  atomic.Int64
}

type hashStripe struct {
	mu sync.RWMutex
	m  map[uint64]*memSeries
}

func newSeriesTable() *seriesTable {
	t := &seriesTable{}
	for i := range t.byHash {
		t.byHash[i].m = map[uint64]*memSeries{}
	}
	return t
}

// getByRef returns the series with ref, or nil.
func (t *seriesTable) getByRef(ref chunks.HeadSeriesRef) *memSeries {
	return t.byRef.get(ref)
}

func findInChain(s *memSeries, l labels.Labels) *memSeries {
	for ; s != nil; s = s.next {
		if labels.Equal(s.lset, l) {
			return s
		}
	}
	return nil
}

// getOrCreate returns the series with labels l, creating it (with a new ref) if needed.
// created reports whether it was created.
func (t *seriesTable) getOrCreate(l labels.Labels, epoch uint32) (s *memSeries, created bool) {
	h := l.Hash()
	hs := &t.byHash[h&(tableStripes-1)]
	hs.mu.RLock()
	s = findInChain(hs.m[h], l)
	hs.mu.RUnlock()
	if s != nil {
		return s, false
	}

	hs.mu.Lock()
	defer hs.mu.Unlock()
	if s = findInChain(hs.m[h], l); s != nil {
		return s, false
	}
	s = &memSeries{lset: l, ref: chunks.HeadSeriesRef(t.lastRef.Add(1))}
	s.lastTs.Store(minTimestamp)
	s.lastSegment.Store(segNotLogged)
	s.seenEpoch.Store(epoch)
	s.next = hs.m[h]
	hs.m[h] = s
	t.byRef.set(s)
	t.active.Add(1)
	return s, true
}

// replay registers a series read from the WAL under its recorded ref. A ref seen before is
// ignored. If the labels are already known under an older ref (the series was collected and
// came back), the newer ref takes over the labels lookup; the old one stays resolvable for
// the samples written under it until it is collected.
func (t *seriesTable) replay(ref chunks.HeadSeriesRef, l labels.Labels, segment int, epoch uint32) *memSeries {
	if s := t.getByRef(ref); s != nil {
		return s
	}
	s := &memSeries{lset: l, ref: ref}
	s.lastTs.Store(minTimestamp)
	s.lastSegment.Store(int32(segment))
	s.seenEpoch.Store(epoch)

	h := l.Hash()
	hs := &t.byHash[h&(tableStripes-1)]
	hs.mu.Lock()
	if old := findInChain(hs.m[h], l); old == nil {
		s.next = hs.m[h]
		hs.m[h] = s
	} else if old.ref < ref {
		t.unlinkLocked(hs, h, old)
		s.next = hs.m[h]
		hs.m[h] = s
	}
	t.byRef.set(s)
	hs.mu.Unlock()
	t.active.Add(1)
	for {
		last := t.lastRef.Load()
		if uint64(ref) <= last || t.lastRef.CompareAndSwap(last, uint64(ref)) {
			break
		}
	}
	return s
}

// unlinkLocked removes s from the hash chain of h; hs must be write-locked.
func (t *seriesTable) unlinkLocked(hs *hashStripe, h uint64, s *memSeries) {
	head := hs.m[h]
	if head == s {
		if s.next == nil {
			delete(hs.m, h)
		} else {
			hs.m[h] = s.next
		}
		s.next = nil
		return
	}
	for p := head; p != nil; p = p.next {
		if p.next == s {
			p.next = s.next
			s.next = nil
			return
		}
	}
}

// gc removes series that are idle (no sample since epoch minEpoch) and whose every WAL
// record lies before segment ackedSegment, i.e. was already sent or dropped. The caller
// holds the commit lock, so no commit can refer to a series while it is being removed;
// appenders that still hold a removed series see segRemoved and look it up again.
func (t *seriesTable) gc(ackedSegment int, epoch, idleEpochs uint32) (removed int) {
	var victims []*memSeries
	t.byRef.each(func(s *memSeries) bool {
		seg := s.lastSegment.Load()
		if seg != segRemoved && seg != segLogging && int(seg) < ackedSegment && epoch-s.seenEpoch.Load() >= idleEpochs {
			victims = append(victims, s)
		}
		return true
	})
	for _, s := range victims {
		h := s.lset.Hash()
		hs := &t.byHash[h&(tableStripes-1)]
		hs.mu.Lock()
		t.unlinkLocked(hs, h, s)
		t.byRef.remove(s)
		s.lastSegment.Store(segRemoved)
		hs.mu.Unlock()
	}
	t.active.Add(-int64(len(victims)))
	return len(victims)
}

// logged returns every series whose series record is in the WAL.
func (t *seriesTable) logged() []*memSeries {
	out := make([]*memSeries, 0, t.active.Load())
	t.byRef.each(func(s *memSeries) bool {
		if s.lastSegment.Load() >= 0 {
			out = append(out, s)
		}
		return true
	})
	return out
}
