package pipeline

// Live data: taps on the edges of the running graph.
//
// Every data edge (metrics, logs, OTLP) that a component resolves through its Host passes
// through an edge tap. The tap counts what crosses the edge, for the rates the UI shows on
// the arrows, and while somebody watches one of the edge's two ends it hands a sample of
// the items to the watchers.
//
// Cost with nobody watching: one atomic load when an appender is created or a batch is sent,
// a plain increment per sample (metrics) and one atomic add per commit or accepted batch.
// Watchers never slow the pipeline: each takes at most its per-second budget of items,
// spread over the second by a random stride (see sampler), and an item its buffer cannot
// take is dropped (counted in Watcher.Dropped), never waited for.
//
// Lock order: Controller.mu before taps.mu; taps.mu is never held while calling out.

import (
	"slices"
	"sync"
	"sync/atomic"
)

// EdgeKey identifies an edge in the direction the data flows: for forward_to references
// From is the referencing component, for targets references it is the referenced one.
type EdgeKey struct {
	From string   `json:"from"`
	To   string   `json:"to"`
	Kind EdgeKind `json:"kind"`
}

// EdgeInfo describes one edge of the running graph.
type EdgeInfo struct {
	EdgeKey
	// Field is the argument that declares the edge, e.g. "forward_to".
	Field string `json:"field"`
	// Items counts what crossed the edge since it was first resolved, restarts included:
	// samples in committed appends (metrics), lines in accepted batches (logs), spans, data
	// points or log records in accepted requests (OTLP). Always 0 for targets edges.
	Items uint64 `json:"items"`
	// Targets is the number of targets From publishes now (targets edges only).
	Targets int `json:"targets"`
}

// edgeTap counts and samples one edge. It outlives restarts of both ends.
type edgeTap struct {
	key      EdgeKey
	items    atomic.Uint64
	watchers atomic.Pointer[[]*Watcher] // nil while nobody watches either end
}

// taps holds the edge taps and the watchers of one controller. Its zero value is ready.
type taps struct {
	mu       sync.Mutex
	edges    map[EdgeKey]*edgeTap
	watching map[string][]*Watcher // component id → its watchers
}

// edge returns the tap of k, creating it with the watchers of both ends.
func (t *taps) edge(k EdgeKey) *edgeTap {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.edges[k]; e != nil {
		return e
	}
	if t.edges == nil {
		t.edges = map[EdgeKey]*edgeTap{}
	}
	e := &edgeTap{key: k}
	t.edges[k] = e
	t.rewatchLocked(e)
	return e
}

// rewatchLocked publishes the current watchers of e's ends to e.
func (t *taps) rewatchLocked(e *edgeTap) {
	ws := append(slices.Clone(t.watching[e.key.From]), t.watching[e.key.To]...)
	if len(ws) == 0 {
		e.watchers.Store(nil)
		return
	}
	e.watchers.Store(&ws)
}

// prune forgets the edges one of whose ends is not in the graph any more.
func (t *taps) prune(keep func(id string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.edges {
		if !keep(k.From) || !keep(k.To) {
			delete(t.edges, k)
		}
	}
}

// items returns the count of k's tap (0 before it was first resolved).
func (t *taps) items(k EdgeKey) uint64 {
	t.mu.Lock()
	e := t.edges[k]
	t.mu.Unlock()
	if e == nil {
		return 0
	}
	return e.items.Load()
}

// touching sums the counts of every edge entering or leaving id.
func (t *taps) touching(id string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n uint64
	for k, e := range t.edges {
		if k.From == id || k.To == id {
			n += e.items.Load()
		}
	}
	return n
}

func (t *taps) addWatcher(w *Watcher) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.watching == nil {
		t.watching = map[string][]*Watcher{}
	}
	t.watching[w.id] = append(t.watching[w.id], w)
	t.rewatchAllLocked(w.id)
}

func (t *taps) removeWatcher(w *Watcher) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ws := slices.DeleteFunc(slices.Clone(t.watching[w.id]), func(o *Watcher) bool { return o == w })
	if len(ws) == 0 {
		delete(t.watching, w.id)
	} else {
		t.watching[w.id] = ws
	}
	t.rewatchAllLocked(w.id)
}

// rewatchAllLocked republishes the watchers of every edge touching id.
func (t *taps) rewatchAllLocked(id string) {
	for k, e := range t.edges {
		if k.From == id || k.To == id {
			t.rewatchLocked(e)
		}
	}
}

// Edges returns every edge of the running graph, with the counts of its tap.
func (c *Controller) Edges() []EdgeInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []EdgeInfo
	for _, id := range c.order {
		n := c.nodes[id]
		if n == nil {
			continue
		}
		for _, ref := range n.spec.References() {
			for _, other := range ref.IDs {
				e := EdgeInfo{EdgeKey: EdgeKey{From: id, To: other, Kind: ref.Kind}, Field: ref.Field}
				if ref.Kind == KindTargets {
					e.From, e.To = other, id
					if hs := c.handles[other]; hs != nil {
						e.Targets = len(hs.targets.get())
					}
				} else {
					e.Items = c.taps.items(e.EdgeKey)
				}
				out = append(out, e)
			}
		}
	}
	return out
}

// PublishedTargets returns the targets component id publishes now; false when the
// component is not in the graph.
func (c *Controller) PublishedTargets(id string) (Targets, bool) {
	c.mu.RLock()
	hs, ok := c.handles[id]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return hs.targets.get(), true
}
