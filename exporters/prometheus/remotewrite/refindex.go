package remotewrite

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/tsdb/chunks"
)

// refIndex maps series refs to series. Refs are handed out in increasing order, so it is
// a paged array, not a map: a lookup is three atomic loads, without hashing or locks. It
// is on the hot path twice per sample (the appender checks the scrape loop's cached ref,
// the WAL reader resolves every sample it sends); as a striped Go map it was 16% of the
// agent's CPU at 100k series, and twice the memory.
//
// Pages whose series are all gone are freed, and the directory drops the freed pages at
// its front, so churn (new refs replacing collected ones) does not grow it without bound.
type refIndex struct {
	mu  sync.Mutex // serialises writers; readers take no lock
	dir atomic.Pointer[refDir]
}

const (
	refPageBits = 10 // 1024 series per page: 8 KiB of pointers
	refPageSize = 1 << refPageBits
	refPageMask = refPageSize - 1
)

type refPage struct {
	slots [refPageSize]atomic.Pointer[memSeries]
	live  int // guarded by refIndex.mu
}

// refDir is an immutable view of the pages: page i of the directory holds the refs
// [(base+i) << refPageBits, (base+i+1) << refPageBits). Growing or trimming it publishes
// a new refDir; the page pointers themselves are shared between generations.
type refDir struct {
	base  uint64
	pages []atomic.Pointer[refPage]
}

func (d *refDir) page(ref chunks.HeadSeriesRef) *refPage {
	p := uint64(ref) >> refPageBits
	if d == nil || p < d.base || p-d.base >= uint64(len(d.pages)) {
		return nil
	}
	return d.pages[p-d.base].Load()
}

// get returns the series with ref, or nil.
func (x *refIndex) get(ref chunks.HeadSeriesRef) *memSeries {
	pg := x.dir.Load().page(ref)
	if pg == nil {
		return nil
	}
	return pg.slots[uint64(ref)&refPageMask].Load()
}

// set stores s under its ref; a series already there is replaced.
func (x *refIndex) set(s *memSeries) {
	x.mu.Lock()
	defer x.mu.Unlock()
	p := uint64(s.ref) >> refPageBits
	d := x.cover(p)
	slot := &d.pages[p-d.base]
	pg := slot.Load()
	if pg == nil {
		pg = &refPage{}
		slot.Store(pg)
	}
	if pg.slots[uint64(s.ref)&refPageMask].Swap(s) == nil {
		pg.live++
	}
}

// cover returns a directory that includes page p, publishing a new one if needed. x.mu is held.
func (x *refIndex) cover(p uint64) *refDir {
	d := x.dir.Load()
	if d != nil && p >= d.base && p-d.base < uint64(len(d.pages)) {
		return d
	}
	lo, hi := p, p+1
	if d != nil && len(d.pages) > 0 {
		lo, hi = min(lo, d.base), max(hi, d.base+uint64(len(d.pages)))
	}
	// Grow by half again, so that appending new refs copies the directory O(log n) times.
	if d != nil && hi == d.base+uint64(len(d.pages))+1 {
		hi += uint64(len(d.pages)) / 2
	}
	return x.publish(d, lo, hi)
}

// publish installs a directory for pages [lo, hi) holding d's pages in that range. x.mu is held.
func (x *refIndex) publish(d *refDir, lo, hi uint64) *refDir {
	nd := &refDir{base: lo, pages: make([]atomic.Pointer[refPage], hi-lo)}
	if d != nil {
		for i := range d.pages {
			if p := d.base + uint64(i); p >= lo && p < hi {
				nd.pages[p-lo].Store(d.pages[i].Load())
			}
		}
	}
	x.dir.Store(nd)
	return nd
}

// remove deletes ref if it still holds s.
func (x *refIndex) remove(s *memSeries) {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.dir.Load()
	pg := d.page(s.ref)
	if pg == nil || !pg.slots[uint64(s.ref)&refPageMask].CompareAndSwap(s, nil) {
		return
	}
	if pg.live--; pg.live > 0 {
		return
	}
	d.pages[uint64(s.ref)>>refPageBits-d.base].Store(nil)
	// Drop the freed pages at the front once they are half of the directory.
	lead := 0
	for lead < len(d.pages) && d.pages[lead].Load() == nil {
		lead++
	}
	if lead == len(d.pages) {
		x.dir.Store(nil)
	} else if lead >= 16 && lead*2 >= len(d.pages) {
		x.publish(d, d.base+uint64(lead), d.base+uint64(len(d.pages)))
	}
}

// each calls fn for every series in the index, in ref order, until fn returns false.
func (x *refIndex) each(fn func(*memSeries) bool) {
	d := x.dir.Load()
	if d == nil {
		return
	}
	for i := range d.pages {
		pg := d.pages[i].Load()
		if pg == nil {
			continue
		}
		for j := range pg.slots {
			if s := pg.slots[j].Load(); s != nil && !fn(s) {
				return
			}
		}
	}
}
