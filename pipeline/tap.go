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
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// DebugInfoProvider is implemented by components that can describe their inner state for
// the UI and GET /api/v1/components/<id>: a log source its files (offset, lag, rotation),
// a writer its queue, WAL size, last error and retries, a scraper its targets. DebugInfo is
// called from HTTP handlers, concurrently with Run; the result is encoded as JSON.
type DebugInfoProvider interface {
	DebugInfo() any
}

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

// metricsTap is what an appender of a tapped metrics edge keeps; its zero value counts
// nothing. Not safe for concurrent use, like the appender that holds it.
type metricsTap struct {
	edge *edgeTap
	ws   []*Watcher // the watchers when the appender was created; nil almost always
	s    sampler
	n    uint64 // samples appended since the last Commit or Rollback
}

// metricsTap returns the state for a new appender on e (nil e: untapped).
func (e *edgeTap) metricsTap() metricsTap {
	if e == nil {
		return metricsTap{}
	}
	t := metricsTap{edge: e}
	if ws := e.watchers.Load(); ws != nil {
		t.ws = *ws
		t.s = newSampler(t.ws)
	}
	return t
}

// sample records one float sample offered to the appender (accepted or not: the edge
// shows what its source sent); small enough to be inlined.
func (t *metricsTap) sample(l labels.Labels, ts int64, v float64) {
	t.n++
	if t.ws != nil {
		t.offerFloat(l, ts, v)
	}
}

// histogram records one histogram sample offered to the appender.
func (t *metricsTap) histogram(l labels.Labels, ts int64, h *histogram.Histogram, fh *histogram.FloatHistogram) {
	t.n++
	if t.ws != nil {
		t.offerHistogram(l, ts, h, fh)
	}
}

func (t *metricsTap) offerFloat(l labels.Labels, ts int64, v float64) {
	if !t.s.hit() {
		return
	}
	for _, w := range t.ws {
		if w.take() {
			w.send(LiveItem{EdgeKey: t.edge.key, Time: time.UnixMilli(ts), Labels: truncate(l.String()),
				Value: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
}

func (t *metricsTap) offerHistogram(l labels.Labels, ts int64, h *histogram.Histogram, fh *histogram.FloatHistogram) {
	if !t.s.hit() {
		return
	}
	for _, w := range t.ws {
		if w.take() {
			v := ""
			if h != nil {
				v = h.String()
			} else if fh != nil {
				v = fh.String()
			}
			w.send(LiveItem{EdgeKey: t.edge.key, Time: time.UnixMilli(ts), Labels: truncate(l.String()), Value: truncate(v)})
		}
	}
}

func (t *metricsTap) commit() {
	if t.edge != nil && t.n > 0 {
		t.edge.items.Add(t.n)
	}
	t.n = 0
}

func (t *metricsTap) rollback() { t.n = 0 }

// tappedAppendable is a component's view of the metrics handle of another.
type tappedAppendable struct {
	h    *metricsHandle
	edge *edgeTap
}

func (a tappedAppendable) Appender(ctx context.Context) storage.Appender {
	return a.h.appender(ctx, a.edge)
}

// tappedLogs is a component's view of the logs handle of another.
type tappedLogs struct {
	next LogsReceiver
	edge *edgeTap
}

func (t tappedLogs) ConsumeLogs(ctx context.Context, b LogBatch) error {
	// Sample before handing over: afterwards the entries belong to the receiver.
	if ws := t.edge.watchers.Load(); ws != nil {
		s := newSampler(*ws)
		for i := range b.Entries {
			if !s.hit() {
				continue
			}
			for _, w := range *ws {
				if w.take() {
					e := &b.Entries[i]
					w.send(LiveItem{EdgeKey: t.edge.key, Time: e.Timestamp, Labels: truncate(e.Labels.String()), Value: truncate(e.Line)})
				}
			}
		}
	}
	n := len(b.Entries)
	err := t.next.ConsumeLogs(ctx, b)
	if err == nil {
		t.edge.items.Add(uint64(n))
	}
	return err
}

// tapHost is the Host a component gets: the controller's handles, tapped on every edge
// the component sends data along.
type tapHost struct {
	host
	from string
}

func (h tapHost) tap(to string, kind EdgeKind) *edgeTap {
	return h.c.taps.edge(EdgeKey{From: h.from, To: to, Kind: kind})
}

func (h tapHost) Appendable(ids []string) Appendable {
	switch a := h.host.Appendable(ids).(type) {
	case *metricsHandle:
		return tappedAppendable{h: a, edge: h.tap(a.id, KindMetrics)}
	case fanout:
		for i, x := range a {
			if mh, ok := x.(*metricsHandle); ok {
				a[i] = tappedAppendable{h: mh, edge: h.tap(mh.id, KindMetrics)}
			}
		}
		return a
	default:
		return a
	}
}

func (h tapHost) Logs(ids []string) LogsReceiver {
	out := make(logsFanout, 0, len(ids))
	for _, id := range ids {
		out = append(out, tappedLogs{next: h.host.Logs([]string{id}), edge: h.tap(id, KindLogs)})
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

// The OTLP methods make tapHost an OTLPHost: the handles stay those of the controller's
// host (one namespace for all components), the consumers handed out are tapped.

func (h tapHost) ExportOTLP(id string, r OTLPReceiver) { ExportOTLP(Options{ID: id, Host: h.host}, r) }

func (h tapHost) ReleaseOTLP(id string, r OTLPReceiver) {
	ReleaseOTLP(Options{ID: id, Host: h.host}, r)
}

func (h tapHost) OTLPTraces(ids []string) consumer.Traces {
	out := make(tracesFanout, 0, len(ids))
	for _, id := range ids {
		next, e := OTLPTraces(h.host, []string{id}), h.tap(id, KindOTLPTraces)
		c, _ := consumer.NewTraces(tapped(e, sampleSpans, ptrace.Traces.SpanCount, next.ConsumeTraces))
		out = append(out, c)
	}
	if len(out) == 1 {
		return out[0]
	}
	c, _ := consumer.NewTraces(out.ConsumeTraces)
	return c
}

func (h tapHost) OTLPMetrics(ids []string) consumer.Metrics {
	out := make(metricsFanout, 0, len(ids))
	for _, id := range ids {
		next, e := OTLPMetrics(h.host, []string{id}), h.tap(id, KindOTLPMetrics)
		c, _ := consumer.NewMetrics(tapped(e, sampleMetrics, pmetric.Metrics.DataPointCount, next.ConsumeMetrics))
		out = append(out, c)
	}
	if len(out) == 1 {
		return out[0]
	}
	c, _ := consumer.NewMetrics(out.ConsumeMetrics)
	return c
}

func (h tapHost) OTLPLogs(ids []string) consumer.Logs {
	out := make(logsOTLPFanout, 0, len(ids))
	for _, id := range ids {
		next, e := OTLPLogs(h.host, []string{id}), h.tap(id, KindOTLPLogs)
		c, _ := consumer.NewLogs(tapped(e, sampleLogRecords, plog.Logs.LogRecordCount, next.ConsumeLogs))
		out = append(out, c)
	}
	if len(out) == 1 {
		return out[0]
	}
	c, _ := consumer.NewLogs(out.ConsumeLogs)
	return c
}

// tapped wraps one OTLP consumer function: it samples for watchers (only while someone
// watches), forwards, and counts the items the next consumer accepted.
func tapped[T any](e *edgeTap, sample func(EdgeKey, []*Watcher, T), count func(T) int,
	next func(context.Context, T) error) func(context.Context, T) error {
	return func(ctx context.Context, data T) error {
		if ws := e.watchers.Load(); ws != nil {
			sample(e.key, *ws, data)
		}
		n := count(data) // before forwarding: the next consumer may take the data apart
		err := next(ctx, data)
		if err == nil {
			e.items.Add(uint64(n))
		}
		return err
	}
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
					if th := c.targets[other]; th != nil {
						e.Targets = len(th.get())
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
	th, ok := c.targets[id]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return th.get(), true
}
