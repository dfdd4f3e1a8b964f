package pipeline

// Watchers: a sample of the items crossing the edges of one component, for the UI's live
// view (see tap.go for the cost model).

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// LiveItem is one sampled item that crossed an edge.
type LiveItem struct {
	EdgeKey
	// Time is the item's own timestamp: the sample's, the log entry's, the span's start.
	Time time.Time `json:"time"`
	// Labels are the series labels, the log stream labels, or the span's resource.
	Labels string `json:"labels"`
	// Value is the sample value, the log line, or the span's name and duration.
	Value string `json:"value"`
}

// maxLiveValue bounds the bytes of a log line or label set copied into a LiveItem.
const maxLiveValue = 4 << 10

// Watcher receives a sample of the items crossing the edges that enter or leave one
// component. The consumer reads Items, calls Tick about once a second (each Tick grants
// the next second's budget) and Close when done.
type Watcher struct {
	id    string
	t     *taps
	ch    chan LiveItem
	limit int64

	tokens  atomic.Int64  // items still allowed until the next Tick
	stride  atomic.Uint32 // take about one item in stride, so the budget spans the second
	dropped atomic.Uint64

	prev uint64 // edge counts at the last Tick; owned by the consumer
	once sync.Once
}

// Watch starts watching component id: at most perSecond items a second (1 to 1000).
func (c *Controller) Watch(id string, perSecond int) (*Watcher, error) {
	c.mu.RLock()
	_, ok := c.nodes[id]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("no such component: %s", id)
	}
	perSecond = min(max(perSecond, 1), 1000)
	w := &Watcher{id: id, t: &c.taps, ch: make(chan LiveItem, perSecond), limit: int64(perSecond)}
	w.stride.Store(1)
	w.tokens.Store(w.limit)
	w.prev = c.taps.touching(id)
	c.taps.addWatcher(w)
	return w, nil
}

// Items delivers the sampled items.
func (w *Watcher) Items() <-chan LiveItem { return w.ch }

// Dropped counts the sampled items the watcher's buffer had no room for.
func (w *Watcher) Dropped() uint64 { return w.dropped.Load() }

// Tick grants a new budget and adapts the stride to the items seen since the last Tick.
func (w *Watcher) Tick() {
	n := w.t.touching(w.id)
	var seen uint64
	if n > w.prev { // less after a reload dropped an edge
		seen = n - w.prev
	}
	w.prev = n
	w.stride.Store(uint32(min(max(seen/uint64(w.limit), 1), 1<<30)))
	w.tokens.Store(w.limit)
}

// Close stops the watcher; items already buffered stay readable.
func (w *Watcher) Close() {
	w.once.Do(func() { w.t.removeWatcher(w) })
}

// take reports whether the watcher's budget allows one more item.
func (w *Watcher) take() bool {
	return w.tokens.Load() > 0 && w.tokens.Add(-1) >= 0
}

func (w *Watcher) send(it LiveItem) {
	select {
	case w.ch <- it:
	default:
		w.dropped.Add(1)
	}
}

// sampler picks about one item in stride among the items offered to a set of watchers:
// a random countdown, so that the cost per item skipped is a decrement, and the items picked
// are spread over the batch instead of always being its first ones.
type sampler struct {
	stride uint32
	skip   uint32
}

func newSampler(ws []*Watcher) sampler {
	s := sampler{stride: 1 << 30}
	for _, w := range ws {
		s.stride = min(s.stride, w.stride.Load())
	}
	s.next()
	return s
}

func (s *sampler) next() {
	if s.stride > 1 {
		s.skip = rand.Uint32N(2 * s.stride) // mean stride
	}
}

// hit reports whether the current item is picked.
func (s *sampler) hit() bool {
	if s.skip > 0 {
		s.skip--
		return false
	}
	s.next()
	return true
}

// truncate bounds s to maxLiveValue bytes, cutting at a character boundary.
func truncate(s string) string {
	if len(s) <= maxLiveValue {
		return s
	}
	i := maxLiveValue
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func sampleSpans(k EdgeKey, ws []*Watcher, td ptrace.Traces) {
	smp := newSampler(ws)
	for i := range td.ResourceSpans().Len() {
		rs := td.ResourceSpans().At(i)
		for j := range rs.ScopeSpans().Len() {
			spans := rs.ScopeSpans().At(j).Spans()
			for s := range spans.Len() {
				if !smp.hit() {
					continue
				}
				for _, w := range ws {
					if w.take() {
						sp := spans.At(s)
						w.send(LiveItem{EdgeKey: k, Time: sp.StartTimestamp().AsTime(),
							Labels: attrString(rs.Resource().Attributes()),
							Value:  truncate(sp.Name() + " " + sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime()).String())})
					}
				}
			}
		}
	}
}

func sampleMetrics(k EdgeKey, ws []*Watcher, md pmetric.Metrics) {
	smp := newSampler(ws)
	for i := range md.ResourceMetrics().Len() {
		rm := md.ResourceMetrics().At(i)
		for j := range rm.ScopeMetrics().Len() {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for m := range ms.Len() {
				if !smp.hit() {
					continue
				}
				for _, w := range ws {
					if w.take() {
						mt := ms.At(m)
						w.send(LiveItem{EdgeKey: k, Labels: attrString(rm.Resource().Attributes()),
							Value: truncate(mt.Name() + " (" + mt.Type().String() + ")"), Time: time.Now()})
					}
				}
			}
		}
	}
}

func sampleLogRecords(k EdgeKey, ws []*Watcher, ld plog.Logs) {
	smp := newSampler(ws)
	for i := range ld.ResourceLogs().Len() {
		rl := ld.ResourceLogs().At(i)
		for j := range rl.ScopeLogs().Len() {
			recs := rl.ScopeLogs().At(j).LogRecords()
			for r := range recs.Len() {
				if !smp.hit() {
					continue
				}
				for _, w := range ws {
					if w.take() {
						lr := recs.At(r)
						w.send(LiveItem{EdgeKey: k, Time: lr.Timestamp().AsTime(),
							Labels: attrString(rl.Resource().Attributes()), Value: truncate(lr.Body().AsString())})
					}
				}
			}
		}
	}
}

// attrString formats OTLP attributes like a label set: {k="v", ...}, sorted by key.
func attrString(m pcommon.Map) string {
	kv := make([]string, 0, m.Len())
	m.Range(func(k string, v pcommon.Value) bool {
		kv = append(kv, k+"="+strconv.Quote(v.AsString()))
		return true
	})
	slices.Sort(kv)
	return truncate("{" + strings.Join(kv, ", ") + "}")
}
