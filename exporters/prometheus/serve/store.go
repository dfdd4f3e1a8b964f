package serve

import (
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

// store keeps the latest sample of every series. It is written once per appender commit
// (one lock for the whole batch) and read by the exposition handler (a snapshot taken
// under the read lock) and the expiry sweep.
//
// Series are keyed by their label hash, which is also the series reference handed back
// to appenders: a scraper that passes it back saves the hash on later samples, and a
// reference is only a hint, checked against the labels (it may come from another sink of
// a fan-out, or name a series that expired since).
type store struct {
	mu        sync.RWMutex
	byHash    map[uint64]*series // chains hold series whose hashes collide
	count     int
	maxSeries int
}

type series struct {
	lset labels.Labels // kept as given: labels.Labels are immutable
	hash uint64
	t    int64 // sample timestamp, milliseconds
	v    float64
	seen int64 // wall clock of the last sample, unix milliseconds (for expiry)
	next *series
}

// pending is one appended sample waiting for Commit.
type pending struct {
	ref  storage.SeriesRef
	lset labels.Labels
	t    int64
	v    float64
	// hashed means ref is the labels' hash (computed by Append), not a caller's hint.
	hashed bool
}

// commitResult counts what a commit did not keep, per reason.
type commitResult struct {
	created, maxSeries, outOfOrder, noName, staleMarkers int
	series                                               int // series kept after the commit
}

func newStore(maxSeries int) *store {
	return &store{byHash: map[uint64]*series{}, maxSeries: maxSeries}
}

// refOf turns a label hash into a series reference; 0 means "no reference". It keeps the
// low 48 bits: the pipeline stamps the top bits of refs with the sink's generation (see
// pipeline.metricsHandle), and a ref that does not fit is not cached by callers.
func refOf(hash uint64) storage.SeriesRef {
	hash &= 1<<48 - 1
	if hash == 0 {
		return 1
	}
	return storage.SeriesRef(hash)
}

// commit applies a batch: the latest sample per series wins, a staleness marker removes
// the series, new series beyond maxSeries are refused.
func (s *store) commit(batch []pending, now int64) (r commitResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { r.series = s.count }()
	for i := range batch {
		p := &batch[i]
		ser, hash := s.lookup(p)
		if value.IsStaleNaN(p.v) {
			if ser != nil {
				s.remove(ser)
				r.staleMarkers++
			}
			continue
		}
		if ser == nil {
			if p.lset.Get(labels.MetricName) == "" {
				r.noName++
				continue
			}
			if s.count >= s.maxSeries {
				r.maxSeries++
				continue
			}
			ser = &series{lset: p.lset, hash: hash, t: p.t, v: p.v, seen: now, next: s.byHash[hash]}
			s.byHash[hash] = ser
			s.count++
			r.created++
			continue
		}
		if p.t < ser.t {
			r.outOfOrder++
			continue
		}
		ser.t, ser.v, ser.seen = p.t, p.v, now
	}
	return r
}

// lookup finds p's series, trying its reference first; it also returns the labels' hash.
// The caller holds s.mu.
func (s *store) lookup(p *pending) (*series, uint64) {
	hint := uint64(p.ref)
	for x := s.byHash[hint]; x != nil; x = x.next {
		if labels.Equal(x.lset, p.lset) {
			return x, x.hash
		}
	}
	hash := hint
	if !p.hashed {
		hash = uint64(refOf(p.lset.Hash()))
		if hash != hint {
			for x := s.byHash[hash]; x != nil; x = x.next {
				if labels.Equal(x.lset, p.lset) {
					return x, hash
				}
			}
		}
	}
	return nil, hash
}

// remove unlinks ser. The caller holds s.mu.
func (s *store) remove(ser *series) {
	head := s.byHash[ser.hash]
	if head == ser {
		if ser.next == nil {
			delete(s.byHash, ser.hash)
		} else {
			s.byHash[ser.hash] = ser.next
		}
		s.count--
		return
	}
	for x := head; x != nil; x = x.next {
		if x.next == ser {
			x.next = ser.next
			s.count--
			return
		}
	}
}

// expire removes the series whose last sample arrived before cutoff (unix milliseconds);
// it returns how many it removed and how many are left.
func (s *store) expire(cutoff int64) (n, left int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, head := range s.byHash {
		for x := head; x != nil; {
			next := x.next
			if x.seen < cutoff {
				s.remove(x)
				n++
			}
			x = next
		}
	}
	return n, s.count
}

// sample is one series' latest sample, as the exposition needs it.
type sample struct {
	lset labels.Labels
	name string
	t    int64
	v    float64
}

// snapshot copies the series seen at or after cutoff (unix milliseconds).
func (s *store) snapshot(cutoff int64) []sample {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]sample, 0, s.count)
	for _, head := range s.byHash {
		for x := head; x != nil; x = x.next {
			if x.seen >= cutoff {
				out = append(out, sample{lset: x.lset, t: x.t, v: x.v})
			}
		}
	}
	return out
}

// len returns the number of series kept.
func (s *store) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.count
}

// limit returns the bound for new series.
func (s *store) limit() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.maxSeries
}

// setMaxSeries changes the bound for new series; series already kept stay until they
// expire.
func (s *store) setMaxSeries(n int) {
	s.mu.Lock()
	s.maxSeries = n
	s.mu.Unlock()
}
