package serve

import (
	"sync"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
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
//
// Metadata (type, help, unit) is kept per metric name, as the scrape reports it for each
// series (a histogram's foo_bucket, foo_sum and foo_count each carry the family's), for the
// names that have series, and for stale_after once their last series is gone: a scrape
// reports metadata only for series new to its cache, and a failed scrape removes every
// series here (staleness markers) but not from that cache, so the series that come back
// with the next scrape come without it.
type store struct {
	mu        sync.RWMutex
	byHash    map[uint64]*series // chains hold series whose hashes collide
	count     int
	maxSeries int
	names     map[string]*nameInfo
}

// nameInfo is what the store knows of one metric name.
type nameInfo struct {
	series     int               // series kept with this name
	meta       metadata.Metadata // the last metadata reported for the name
	known      bool              // meta was reported
	emptySince int64             // when series last went to 0 (unix milliseconds)
}

type series struct {
	lset labels.Labels // kept as given: labels.Labels are immutable
	hash uint64
	t    int64 // sample timestamp, milliseconds
	v    float64
	seen int64      // wall clock of the last sample, unix milliseconds (for expiry)
	ext  *seriesExt // nil for a float series without exemplar, the common case
	next *series
}

// seriesExt is what a series may have beyond a float: its latest native histogram (then v
// is unused) and its latest exemplar. It is never changed once set on a series, only
// replaced, so that snapshots share it without copying.
type seriesExt struct {
	h  *histogram.Histogram      // integer native histogram, or
	fh *histogram.FloatHistogram // float native histogram
	ex exemplar.Exemplar
	// hasEx: ex is set. One exemplar per series bounds memory, as client_golang keeps
	// one per counter or bucket.
	hasEx bool
}

// isHistogram reports whether the series' latest sample is a native histogram.
func (e *seriesExt) isHistogram() bool { return e != nil && (e.h != nil || e.fh != nil) }

// pending is one appended sample waiting for Commit.
type pending struct {
	ref  storage.SeriesRef
	lset labels.Labels
	t    int64
	v    float64
	// hashed means ref is the labels' hash (computed by Append), not a caller's hint.
	hashed bool
}

// pendingHist is one appended native histogram waiting for Commit (v unused). h and fh
// are the appender's own copies.
type pendingHist struct {
	pending
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

// pendingExemplar is one appended exemplar waiting for Commit (t and v unused).
type pendingExemplar struct {
	pending
	ex exemplar.Exemplar
}

// batch is what one appender commits: samples first, then native histograms, exemplars
// (which belong to series appended before them) and metadata.
type batch struct {
	samples   []pending
	hists     []pendingHist
	exemplars []pendingExemplar
	metas     []pendingMeta
}

// len is the number of samples (floats and native histograms) in b.
func (b *batch) len() int { return len(b.samples) + len(b.hists) }

// empty reports whether b holds nothing.
func (b *batch) empty() bool {
	return b.len() == 0 && len(b.exemplars) == 0 && len(b.metas) == 0
}

// pendingMeta is one metadata update waiting for Commit.
type pendingMeta struct {
	name string
	meta metadata.Metadata
}

// commitResult counts what a commit did not keep, per reason.
type commitResult struct {
	created, maxSeries, outOfOrder, noName, staleMarkers int
	exemplarsNoSeries                                    int // exemplars of series not kept
	series                                               int // series kept after the commit
}

func newStore(maxSeries int) *store {
	return &store{byHash: map[uint64]*series{}, maxSeries: maxSeries, names: map[string]*nameInfo{}}
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
// the series, new series beyond maxSeries are refused. A series holds a float or a native
// histogram, whichever came last. Then exemplars apply to their series (the latest by
// timestamp wins), and metadata updates to the names that have series.
func (s *store) commit(b *batch, now int64) (r commitResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { r.series = s.count }()
	for i := range b.samples {
		p := &b.samples[i]
		ser, hash := s.lookup(p)
		if stale := value.IsStaleNaN(p.v); ser == nil || stale || p.t < ser.t {
			if ser = s.admit(p, ser, hash, stale, now, &r); ser == nil {
				continue
			}
		}
		ser.t, ser.v, ser.seen = p.t, p.v, now
		if ser.ext.isHistogram() {
			ser.ext = withHistogram(ser.ext, nil, nil)
		}
	}
	for i := range b.hists {
		p := &b.hists[i]
		ser, hash := s.lookup(&p.pending)
		stale := (p.h != nil && value.IsStaleNaN(p.h.Sum)) || (p.fh != nil && value.IsStaleNaN(p.fh.Sum))
		if ser == nil || stale || p.t < ser.t {
			if ser = s.admit(&p.pending, ser, hash, stale, now, &r); ser == nil {
				continue
			}
		}
		ser.t, ser.v, ser.seen = p.t, 0, now
		ser.ext = withHistogram(ser.ext, p.h, p.fh)
	}
	for i := range b.exemplars {
		p := &b.exemplars[i]
		ser, _ := s.lookup(&p.pending)
		if ser == nil {
			r.exemplarsNoSeries++
			continue
		}
		if old := ser.ext; old != nil && old.hasEx && (old.ex.Equals(p.ex) || (old.ex.HasTs && p.ex.HasTs && p.ex.Ts < old.ex.Ts)) {
			continue // the same again, or older than the one kept
		}
		e := &seriesExt{ex: p.ex, hasEx: true}
		if ser.ext != nil {
			e.h, e.fh = ser.ext.h, ser.ext.fh
		}
		ser.ext = e
	}
	for _, m := range b.metas {
		if ni := s.names[m.name]; ni != nil {
			ni.meta, ni.known = m.meta, true
		}
	}
	return r
}

// withHistogram returns e (nil: none) with its native histogram replaced; nil when nothing
// is left.
func withHistogram(e *seriesExt, h *histogram.Histogram, fh *histogram.FloatHistogram) *seriesExt {
	if h == nil && fh == nil && (e == nil || !e.hasEx) {
		return nil
	}
	n := &seriesExt{h: h, fh: fh}
	if e != nil {
		n.ex, n.hasEx = e.ex, e.hasEx
	}
	return n
}

// admit handles the samples that do not simply update their series ser (nil: not kept,
// hash: the labels' hash): it returns the series created for p, or nil when p's sample is
// not stored: a staleness marker (which removes the series), a series refused, or a sample
// older than the kept one (each counted in r). The caller holds s.mu.
func (s *store) admit(p *pending, ser *series, hash uint64, stale bool, now int64, r *commitResult) *series {
	if stale {
		if ser != nil {
			s.remove(ser, now)
			r.staleMarkers++
		}
		return nil
	}
	if ser == nil {
		name := p.lset.Get(labels.MetricName)
		if name == "" {
			r.noName++
			return nil
		}
		if s.count >= s.maxSeries {
			r.maxSeries++
			return nil
		}
		ser = &series{lset: p.lset, hash: hash, t: p.t, next: s.byHash[hash]}
		s.byHash[hash] = ser
		s.count++
		r.created++
		ni := s.names[name]
		if ni == nil {
			ni = &nameInfo{}
			s.names[name] = ni
		}
		ni.series++
		return ser
	}
	r.outOfOrder++
	return nil
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

// remove unlinks ser; at now (unix milliseconds) it was its name's last series, the name's
// metadata is kept until expire forgets it. The caller holds s.mu.
func (s *store) remove(ser *series, now int64) {
	head := s.byHash[ser.hash]
	removed := false
	if head == ser {
		if ser.next == nil {
			delete(s.byHash, ser.hash)
		} else {
			s.byHash[ser.hash] = ser.next
		}
		removed = true
	} else {
		for x := head; x != nil; x = x.next {
			if x.next == ser {
				x.next = ser.next
				removed = true
				break
			}
		}
	}
	if !removed {
		return
	}
	s.count--
	name := ser.lset.Get(labels.MetricName)
	if ni := s.names[name]; ni != nil {
		if ni.series--; ni.series <= 0 {
			ni.series, ni.emptySince = 0, now
		}
	}
}

// expire removes the series whose last sample arrived before cutoff (unix milliseconds),
// and the metadata of names without series since before cutoff; it returns how many series
// it removed and how many are left.
func (s *store) expire(cutoff int64) (n, left int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, head := range s.byHash {
		for x := head; x != nil; {
			next := x.next
			if x.seen < cutoff {
				s.remove(x, cutoff)
				n++
			}
			x = next
		}
	}
	for name, ni := range s.names {
		if ni.series == 0 && ni.emptySince < cutoff {
			delete(s.names, name)
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
	ext  *seriesExt // native histogram and exemplar; nil: none
	// part and typed are set by the exposition: what the series is to its family, and
	// whether it is served in a typed family.
	part  part
	typed bool
}

// snapshot copies the series seen at or after cutoff (unix milliseconds) and the metadata
// known by metric name (nil when there is none).
func (s *store) snapshot(cutoff int64) ([]sample, map[string]metadata.Metadata) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]sample, 0, s.count)
	for _, head := range s.byHash {
		for x := head; x != nil; x = x.next {
			if x.seen >= cutoff {
				out = append(out, sample{lset: x.lset, t: x.t, v: x.v, ext: x.ext})
			}
		}
	}
	var meta map[string]metadata.Metadata
	for name, ni := range s.names {
		if ni.known {
			if meta == nil {
				meta = make(map[string]metadata.Metadata, len(s.names))
			}
			meta[name] = ni.meta
		}
	}
	return out, meta
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
