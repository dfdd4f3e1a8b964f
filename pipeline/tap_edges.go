package pipeline

// The taps of each edge kind: what the Host's handles are wrapped in (see tap.go).

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

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
