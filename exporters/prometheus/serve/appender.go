package serve

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// appendable hands out appenders that buffer samples without locking and apply them to
// the store in one locked pass on Commit.
type appendable struct {
	store   *store
	metrics *metrics
	logger  *slog.Logger
	full    atomic.Bool // max_series was hit; logged once until series expire
	pool    sync.Pool   // *appender
}

// maxPooledSamples: appenders whose buffer grew beyond this are not pooled, so one huge
// scrape does not pin its buffer for ever.
const maxPooledSamples = 1 << 16

func newAppendable(s *store, m *metrics, logger *slog.Logger) *appendable {
	a := &appendable{store: s, metrics: m, logger: logger}
	a.pool.New = func() any { return &appender{parent: a} }
	return a
}

// Appender implements storage.Appendable.
func (a *appendable) Appender(context.Context) storage.Appender {
	return a.pool.Get().(*appender)
}

// appender implements storage.Appender. Like every storage.Appender it is used by one
// goroutine and must not be used after Commit or Rollback (it goes back to the pool).
type appender struct {
	parent *appendable
	batch
}

var _ storage.Appender = (*appender)(nil)

// Append buffers a sample. The returned reference is the labels' hash; passing it back
// saves hashing on later samples.
func (a *appender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	hashed := false
	if ref == 0 {
		ref, hashed = refOf(l.Hash()), true
	}
	a.samples = append(a.samples, pending{ref: ref, lset: l, t: t, v: v, hashed: hashed})
	return ref, nil
}

// Commit applies the buffered samples.
func (a *appender) Commit() error {
	p := a.parent
	if !a.empty() {
		r := p.store.commit(&a.batch, time.Now().UnixMilli())
		p.metrics.observe(a.len(), len(a.exemplars), r)
		if r.maxSeries > 0 && !p.full.Swap(true) {
			p.logger.Warn("max_series reached: samples of new series are dropped until series expire", "max_series", p.store.limit())
		}
	}
	a.release()
	return nil
}

// Rollback discards the buffered samples.
func (a *appender) Rollback() error {
	a.release()
	return nil
}

func (a *appender) release() {
	clear(a.samples) // drop label references so the pool pins no memory
	a.samples = a.samples[:0]
	clear(a.hists)
	a.hists = a.hists[:0]
	clear(a.exemplars)
	a.exemplars = a.exemplars[:0]
	clear(a.metas)
	a.metas = a.metas[:0]
	if cap(a.samples) > maxPooledSamples {
		a.samples = nil
	}
	if cap(a.hists)+cap(a.exemplars) > maxPooledSamples {
		a.hists, a.exemplars = nil, nil
	}
	a.parent.pool.Put(a)
}

// SetOptions implements storage.Appender; there is nothing to configure.
func (a *appender) SetOptions(*storage.AppendOptions) {}

// AppendExemplar implements storage.Appender: the series' latest exemplar is kept (one per
// series) and served in the OpenMetrics and protobuf formats.
func (a *appender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	ref, hashed := a.refFor(ref, l)
	a.exemplars = append(a.exemplars, pendingExemplar{pending: pending{ref: ref, lset: l, hashed: hashed}, ex: e})
	return ref, nil
}

// AppendHistogram implements storage.Appender: the series' latest native histogram (integer
// or float) is kept and served in the protobuf format; the text formats cannot carry it.
// The histogram is copied: callers may reuse theirs.
func (a *appender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	ref, hashed := a.refFor(ref, l)
	switch {
	case h != nil:
		h = h.Copy()
	case fh != nil:
		fh = fh.Copy()
	default:
		return ref, nil
	}
	a.hists = append(a.hists, pendingHist{pending: pending{ref: ref, lset: l, t: t, hashed: hashed}, h: h, fh: fh})
	return ref, nil
}

// refFor returns ref, or the labels' hash when ref is 0 (then hashed is true).
func (a *appender) refFor(ref storage.SeriesRef, l labels.Labels) (storage.SeriesRef, bool) {
	if ref != 0 {
		return ref, false
	}
	return refOf(l.Hash()), true
}

// AppendHistogramSTZeroSample implements storage.Appender; start timestamps are not kept.
func (a *appender) AppendHistogramSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return ref, nil
}

// UpdateMetadata implements storage.Appender: the type, help and unit of the series' metric
// name are kept with its samples (at Commit) and served with them.
func (a *appender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	if name := l.Get(labels.MetricName); name != "" {
		a.metas = append(a.metas, pendingMeta{name: name, meta: m})
	}
	return ref, nil
}

// AppendSTZeroSample implements storage.Appender; start timestamps are not kept.
func (a *appender) AppendSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref, nil
}
