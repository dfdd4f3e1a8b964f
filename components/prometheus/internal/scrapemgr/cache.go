package scrapemgr

import (
	"sync"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	promscrape "github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

// cacheEntry is what a target's cache keeps of one exposed series between scrapes.
type cacheEntry struct {
	raw  string        // the series as exposed (name and labels, as text): the key
	lset labels.Labels // after target labels and metric relabelling; empty when dropped
	ref  storage.SeriesRef
	// iter is the last scrape that exposed the series; tracked the last scrape that
	// appended a sample subject to staleness (no explicit timestamp, or
	// track_timestamps_staleness).
	iter, tracked uint64
	// pos is the entry's place in the cache's order of the previous scrape, or in the
	// current one's once this scrape has exposed it.
	pos int32
}

// dropped reports whether relabelling dropped the series: nothing is appended for it.
func (e *cacheEntry) dropped() bool { return e.lset.IsEmpty() }

// seriesCache is one target's memory of its series: what Prometheus' scrapeCache does,
// cheaper, because a target almost always exposes the same series in the same order.
//
// Prometheus looks every sample up in a map keyed by the series text, and tracks staleness
// with two maps of refs rebuilt each scrape (an insert and a lookup per sample). Here the
// entries of the previous scrape are kept in exposition order: the next scrape compares
// each series' text with the entry at the same place and takes the map only when they
// differ (a series came or went); and a series is stale when its entry was tracked in the
// previous scrape and not in this one, found by walking that order once.
type seriesCache struct {
	iter  uint64
	byRaw map[string]*cacheEntry
	// order are the entries the previous scrape exposed, in order; next collects this
	// scrape's. cursor is where the next series is expected in order.
	order, next []*cacheEntry
	cursor      int
	// seen counts the distinct entries this scrape exposed; successful is the size of
	// byRaw after the last successful scrape (a sweep removes what it no longer exposes).
	seen, successful int
	reports          int // report series in byRaw

	texts textArena
	meta  metaStore
}

func newSeriesCache() *seriesCache {
	// Iterations start at 1: an entry's tracked 0 means never tracked.
	return &seriesCache{iter: 1, byRaw: map[string]*cacheEntry{}, meta: metaStore{m: map[string]*metaEntry{}}}
}

// get returns the entry of the exposed series met, or nil; seenBefore reports that this
// scrape exposed it already (a duplicate).
func (c *seriesCache) get(met []byte) (e *cacheEntry, seenBefore bool) {
	if c.cursor < len(c.order) {
		if e = c.order[c.cursor]; e.raw == string(met) && e.iter != c.iter {
			c.cursor++
			c.mark(e)
			return e, false
		}
	}
	e = c.byRaw[string(met)]
	if e == nil {
		return nil, false
	}
	if e.iter == c.iter {
		return e, true
	}
	if int(e.pos) < len(c.order) && c.order[e.pos] == e {
		c.cursor = int(e.pos) + 1 // the series after it are likely next, as before
	}
	c.mark(e)
	return e, false
}

// expected is the series text the next series of this scrape has if the target exposes
// what it did last time; "" when there is no such guess.
func (c *seriesCache) expected() string {
	if c.cursor < len(c.order) {
		if e := c.order[c.cursor]; e.iter != c.iter {
			return e.raw
		}
	}
	return ""
}

// mark records that this scrape exposed e.
func (c *seriesCache) mark(e *cacheEntry) {
	e.iter = c.iter
	e.pos = int32(len(c.next))
	c.next = append(c.next, e)
	c.seen++
}

// add records a series this scrape exposed for the first time (or that the cache had
// forgotten).
func (c *seriesCache) add(met []byte, lset labels.Labels, ref storage.SeriesRef) *cacheEntry {
	e := &cacheEntry{raw: c.texts.intern(met), lset: lset, ref: ref}
	c.byRaw[e.raw] = e
	c.mark(e)
	return e
}

// addReport records a report series (up, scrape_duration_seconds ...), which are not part
// of the exposition order.
func (c *seriesCache) addReport(name string, lset labels.Labels, ref storage.SeriesRef) *cacheEntry {
	e := &cacheEntry{raw: name, lset: lset, ref: ref}
	c.byRaw[name] = e
	c.reports++
	return e
}

// report returns a report series' entry.
func (c *seriesCache) report(name string) *cacheEntry { return c.byRaw[name] }

// track records that e's sample of this scrape is subject to staleness.
func (c *seriesCache) track(e *cacheEntry) { e.tracked = c.iter }

// eachStale calls f for every series tracked in the previous scrape and not in this one,
// until f returns false.
func (c *seriesCache) eachStale(f func(*cacheEntry) bool) {
	for _, e := range c.order {
		if e.tracked == c.iter-1 && !f(e) {
			return
		}
	}
}

// iterDone ends a scrape. flush (a successful scrape) forgets the series it did not expose.
// As in Prometheus, failed scrapes that expose ever new series force a flush once the cache
// has doubled since the last success (plus 1000).
func (c *seriesCache) iterDone(flush bool) {
	count := len(c.byRaw) + c.meta.len()
	switch {
	case flush:
	case count > c.successful*2+1000:
		flush = true
	}
	if flush {
		if len(c.byRaw) > c.seen+c.reports {
			for k, e := range c.byRaw {
				if e.iter != c.iter && !isReport(k) {
					delete(c.byRaw, k)
					c.texts.dead += len(k)
				}
			}
		}
		if c.texts.dead > c.texts.live()/2 {
			c.compactTexts()
		}
		c.meta.sweep(c.iter)
		c.successful = len(c.byRaw) + c.meta.len()
	}
	clear(c.order) // let forgotten entries go
	c.order, c.next = c.next, c.order[:0]
	c.cursor, c.seen = 0, 0
	c.iter++
}

// textArena holds a target's series texts back to back, in the order they were first
// exposed: comparing a scrape's lines with them then reads memory in sequence (the CPU
// prefetches it) rather than one scattered string per series, which cost a cache miss per
// sample.
type textArena struct {
	chunk []byte
	size  int // bytes handed out
	dead  int // of which held by forgotten series
}

const minTextChunk = 4 << 10

// intern returns b as a string stored in the arena.
func (a *textArena) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(a.chunk)-len(a.chunk) < len(b) {
		// A new chunk; the old one lives on as long as its strings do.
		// An eighth of what is live: at most that much spare room, few chunks.
		a.chunk = make([]byte, 0, max(minTextChunk, len(b), min(a.live()/8, 256<<10)))
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	a.size += len(b)
	return unsafe.String(&a.chunk[start], len(b))
}

func (a *textArena) live() int { return a.size - a.dead }

// compactTexts copies the texts of the series still known into new chunks, in the order of
// the last scrape, and lets the old chunks go (once churn left more dead texts than live).
func (c *seriesCache) compactTexts() {
	c.texts = textArena{}
	byRaw := make(map[string]*cacheEntry, len(c.byRaw))
	for _, e := range c.next {
		if c.byRaw[e.raw] == e {
			e.raw = c.texts.intern([]byte(e.raw))
			byRaw[e.raw] = e
		}
	}
	for k, e := range c.byRaw {
		if _, moved := byRaw[e.raw]; !moved {
			if !isReport(k) {
				e.raw = c.texts.intern([]byte(e.raw))
			}
			byRaw[e.raw] = e
		}
	}
	c.byRaw = byRaw
}

// metaEntry is one metric family's metadata as the target exposes it.
type metaEntry struct {
	metadata.Metadata
	lastIter, lastIterChange uint64
}

// metaStore is a target's metadata by metric family: promscrape.MetricMetadataStore for
// the target's metadata API, and what tells the loop when to pass metadata on.
type metaStore struct {
	mu   sync.Mutex // the API reads while the loop writes
	m    map[string]*metaEntry
	size int
}

var _ promscrape.MetricMetadataStore = (*metaStore)(nil)

func (s *metaStore) entry(name []byte) *metaEntry {
	e := s.m[string(name)]
	if e == nil {
		e = &metaEntry{Metadata: metadata.Metadata{Type: model.MetricTypeUnknown}}
		s.m[string(name)] = e
	}
	return e
}

// set applies one TYPE, HELP or UNIT line of scrape iter to family name.
func (s *metaStore) set(name []byte, iter uint64, apply func(*metaEntry) bool) *metaEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(name)
	old := e.size()
	if apply(e) {
		e.lastIterChange = iter
	}
	e.lastIter = iter
	s.size += e.size() - old
	return e
}

func (e *metaEntry) size() int { return len(e.Help) + len(e.Unit) + len(e.Type) }

func (s *metaStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sweep forgets families not seen for more than 10 scrapes (as Prometheus does).
func (s *metaStore) sweep(iter uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.m {
		if iter-e.lastIter > 10 {
			s.size -= e.size()
			delete(s.m, k)
		}
	}
}

// GetMetadata implements promscrape.MetricMetadataStore.
func (s *metaStore) GetMetadata(name string) (promscrape.MetricMetadata, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[name]
	if !ok {
		return promscrape.MetricMetadata{}, false
	}
	return promscrape.MetricMetadata{MetricFamily: name, Type: e.Type, Help: e.Help, Unit: e.Unit}, true
}

// ListMetadata implements promscrape.MetricMetadataStore.
func (s *metaStore) ListMetadata() []promscrape.MetricMetadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]promscrape.MetricMetadata, 0, len(s.m))
	for k, e := range s.m {
		out = append(out, promscrape.MetricMetadata{MetricFamily: k, Type: e.Type, Help: e.Help, Unit: e.Unit})
	}
	return out
}

// SizeMetadata implements promscrape.MetricMetadataStore.
func (s *metaStore) SizeMetadata() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// LengthMetadata implements promscrape.MetricMetadataStore.
func (s *metaStore) LengthMetadata() int { return s.len() }
