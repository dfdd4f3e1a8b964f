package promrelabel

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"
)

// entry is the cached result of relabelling one input series.
type entry struct {
	in  labels.Labels // the input, to tell hash collisions apart
	out labels.Labels // the result; empty when the rules drop the series
	// ref is the downstream series reference last returned for out, handed back to the
	// downstream appender so it can skip its own label lookup. 0: unknown.
	ref atomic.Uint64
}

// cache maps input label hashes to relabelling results, bounded by max entries.
//
// It is not an LRU on purpose: a scrape appends the same series in the same order every
// interval, a cyclic pattern for which an LRU smaller than the working set hits nothing,
// and an LRU takes an exclusive lock on every read. Reads here are lock-free (sync.Map);
// when the bound is reached the whole cache is emptied and refills from the next
// appends, which keeps memory bounded and costs one round of misses.
type cache struct {
	max  int64
	m    sync.Map // uint64 -> *entry
	size atomic.Int64
}

func newCache(max int) *cache {
	if max <= 0 {
		return nil
	}
	return &cache{max: int64(max)}
}

// get returns the entry for l, or nil.
func (c *cache) get(hash uint64, l labels.Labels) *entry {
	v, ok := c.m.Load(hash)
	if !ok {
		return nil
	}
	e := v.(*entry)
	if !labels.Equal(e.in, l) {
		return nil // hash collision: recompute, and let add replace it
	}
	return e
}

// add stores e under hash, emptying the cache first when it is full.
func (c *cache) add(hash uint64, e *entry) {
	if c.size.Load() >= c.max {
		c.m.Clear()
		c.size.Store(0)
	}
	if _, loaded := c.m.Swap(hash, e); !loaded {
		c.size.Add(1)
	}
}

// len returns the number of cached entries (approximate under concurrent adds).
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	return int(c.size.Load())
}
