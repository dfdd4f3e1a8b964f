package promrelabel

import (
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/storage"
)

// appender relabels each series and forwards it to the next appender. Like every
// storage.Appender it is used by one goroutine at a time.
//
// Series references: the reference the caller passes in is ignored (it is ours to give,
// and means nothing to the next appender); the one returned is the next appender's
// reference for the relabelled series, which the cache remembers and hands back to it.
// Distinct input series that relabel to the same output share that reference, which is
// right for the caller's staleness tracking: the output series stays alive while any of
// them does. Dropped series get reference 0, so the caller tracks nothing for them.
type appender struct {
	st      *state
	next    storage.Appender
	metrics *metrics
	lb      *labels.Builder
	n       counts
}

var _ storage.Appender = (*appender)(nil)

func newAppender(st *state, next storage.Appender, m *metrics) *appender {
	return &appender{st: st, next: next, metrics: m, lb: labels.NewBuilder(labels.EmptyLabels())}
}

// lookup returns the relabelled labels of l (empty: dropped) and the cache entry that
// holds them (nil when caching is off).
func (a *appender) lookup(l labels.Labels) (labels.Labels, *entry) {
	c := a.st.cache
	if c == nil {
		if len(a.st.rules) == 0 {
			return l, nil
		}
		return a.process(l), nil
	}
	h := l.Hash()
	if e := c.get(h, l); e != nil {
		a.n.hits++
		return e.out, e
	}
	a.n.misses++
	e := &entry{in: l, out: a.process(l)}
	c.add(h, e)
	return e.out, e
}

func (a *appender) process(l labels.Labels) labels.Labels {
	a.lb.Reset(l)
	if !relabel.ProcessBuilder(a.lb, a.st.rules...) {
		return labels.EmptyLabels()
	}
	return a.lb.Labels()
}

// ref returns the downstream reference known for e.
func ref(e *entry) storage.SeriesRef {
	if e == nil {
		return 0
	}
	return storage.SeriesRef(e.ref.Load())
}

// learn remembers the downstream reference returned for e.
func learn(e *entry, r storage.SeriesRef, err error) {
	if e != nil && err == nil && r != 0 && storage.SeriesRef(e.ref.Load()) != r {
		e.ref.Store(uint64(r))
	}
}

// sample relabels one float or histogram sample's labels; ok is false when it is dropped.
func (a *appender) sample(l labels.Labels) (out labels.Labels, e *entry, ok bool) {
	a.n.in++
	out, e = a.lookup(l)
	if out.IsEmpty() {
		a.n.dropped++
		return out, e, false
	}
	a.n.out++
	return out, e, true
}

// Append implements storage.Appender.
func (a *appender) Append(_ storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	out, e, ok := a.sample(l)
	if !ok {
		return 0, nil
	}
	r, err := a.next.Append(ref(e), out, t, v)
	learn(e, r, err)
	return r, err
}

// AppendHistogram implements storage.Appender.
func (a *appender) AppendHistogram(_ storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	out, e, ok := a.sample(l)
	if !ok {
		return 0, nil
	}
	r, err := a.next.AppendHistogram(ref(e), out, t, h, fh)
	learn(e, r, err)
	return r, err
}

// AppendExemplar implements storage.Appender.
func (a *appender) AppendExemplar(_ storage.SeriesRef, l labels.Labels, ex exemplar.Exemplar) (storage.SeriesRef, error) {
	out, e := a.lookup(l)
	if out.IsEmpty() {
		return 0, nil
	}
	r, err := a.next.AppendExemplar(ref(e), out, ex)
	learn(e, r, err)
	return r, err
}

// UpdateMetadata implements storage.Appender.
func (a *appender) UpdateMetadata(_ storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	out, e := a.lookup(l)
	if out.IsEmpty() {
		return 0, nil
	}
	r, err := a.next.UpdateMetadata(ref(e), out, m)
	learn(e, r, err)
	return r, err
}

// AppendSTZeroSample implements storage.Appender.
func (a *appender) AppendSTZeroSample(_ storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	out, e := a.lookup(l)
	if out.IsEmpty() {
		return 0, nil
	}
	r, err := a.next.AppendSTZeroSample(ref(e), out, t, st)
	learn(e, r, err)
	return r, err
}

// AppendHistogramSTZeroSample implements storage.Appender.
func (a *appender) AppendHistogramSTZeroSample(_ storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	out, e := a.lookup(l)
	if out.IsEmpty() {
		return 0, nil
	}
	r, err := a.next.AppendHistogramSTZeroSample(ref(e), out, t, st, h, fh)
	learn(e, r, err)
	return r, err
}

// SetOptions implements storage.Appender.
func (a *appender) SetOptions(opts *storage.AppendOptions) { a.next.SetOptions(opts) }

// Commit implements storage.Appender.
func (a *appender) Commit() error {
	a.metrics.add(&a.n)
	return a.next.Commit()
}

// Rollback implements storage.Appender.
func (a *appender) Rollback() error {
	a.metrics.add(&a.n)
	return a.next.Rollback()
}
