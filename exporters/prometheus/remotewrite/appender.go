package remotewrite

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/sondehq/sonde/pipeline"
)

var errEmptyLabels = errors.New("series without labels")

// pendingSample is a sample appended but not yet committed.
type pendingSample struct {
	s *memSeries
	t int64
	v float64
}

// appender implements storage.Appender on the WAL. Like every storage.Appender it is used by
// one goroutine and finished with Commit or Rollback; many may run at once. The labels
// passed to Append are kept, not copied (as the Prometheus TSDB head does): callers must
// not modify them afterwards.
type appender struct {
	w       *walStorage
	pending []pendingSample
	metas   []pendingMeta
}

// pendingPool recycles the pending-sample buffers of finished appenders.
var pendingPool = sync.Pool{New: func() any { return new([]pendingSample) }}

func newAppender(w *walStorage) *appender {
	return &appender{w: w, pending: (*pendingPool.Get().(*[]pendingSample))[:0]}
}

// release ends the transaction; the appender rejects every later call.
func (a *appender) release() {
	if cap(a.pending) <= 64<<10 { // do not keep huge scrapes' buffers around
		clear(a.pending) // drop series pointers, so collected series can be freed
		p := a.pending[:0]
		pendingPool.Put(&p)
	}
	a.pending = nil
	a.metas = nil
	a.w = nil
}

// Append implements storage.Appender. ref is only a hint: it is used when it names a series
// with exactly these labels. A sample older than the newest committed one of its series is
// rejected with storage.ErrOutOfOrderSample; one with the same timestamp is dropped quietly
// (counted), so that the timestamps sent for a series never go back or repeat.
func (a *appender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	if a.w == nil || a.w.closing.Load() {
		return 0, errClosed
	}
	var s *memSeries
	if ref != 0 {
		if s = a.w.table.getByRef(chunks.HeadSeriesRef(ref)); s != nil && !labels.Equal(s.lset, l) {
			s = nil
		}
	}
	if s == nil {
		if l.IsEmpty() {
			return 0, errEmptyLabels
		}
		var created bool
		if s, created = a.w.table.getOrCreate(l, a.w.epoch.Load()); created {
			a.w.m.seriesCreated.Inc()
		}
	}
	switch last := s.lastTs.Load(); {
	case t < last:
		a.w.m.walDropped(reasonOutOfOrder).Inc()
		return 0, storage.ErrOutOfOrderSample
	case t == last:
		a.w.m.walDropped(reasonDuplicate).Inc()
		return storage.SeriesRef(s.ref), nil
	}
	a.pending = append(a.pending, pendingSample{s: s, t: t, v: v})
	return storage.SeriesRef(s.ref), nil
}

// Commit implements storage.Appender: the samples are in the WAL when it returns nil.
func (a *appender) Commit() error {
	if a.w == nil {
		return errClosed
	}
	a.w.meta.set(a.metas)
	var err error
	switch {
	case len(a.pending) > 0:
		err = a.w.commit(a.pending)
	case a.w.closing.Load():
		err = errClosed
	}
	a.release()
	return err
}

// Rollback implements storage.Appender.
func (a *appender) Rollback() error {
	if a.w != nil {
		a.release()
	}
	return nil
}

// SetOptions implements storage.Appender; out-of-order samples are always discarded.
func (a *appender) SetOptions(*storage.AppendOptions) {}

// AppendExemplar implements storage.Appender; exemplars are not sent (counted as dropped).
func (a *appender) AppendExemplar(ref storage.SeriesRef, _ labels.Labels, _ exemplar.Exemplar) (storage.SeriesRef, error) {
	if a.w != nil {
		a.w.m.exemplarsDropped.WithLabelValues(reasonUnsupported).Inc()
	}
	return ref, nil
}

// AppendHistogram implements storage.Appender; native histograms are not sent yet (counted
// as dropped samples).
func (a *appender) AppendHistogram(ref storage.SeriesRef, _ labels.Labels, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	if a.w != nil {
		a.w.m.walDropped(reasonUnsupported).Inc()
	}
	return ref, nil
}

// AppendHistogramSTZeroSample implements storage.Appender; ignored like histograms.
func (a *appender) AppendHistogramSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return ref, nil
}

// UpdateMetadata implements storage.Appender: the metadata of the series' metric name is
// kept (in memory, at Commit) and sent every metadata_config.send_interval.
func (a *appender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	if a.w == nil || a.w.closing.Load() {
		return 0, errClosed
	}
	if name := l.Get(labels.MetricName); name != "" {
		a.metas = append(a.metas, pendingMeta{name: name, meta: m})
	}
	return ref, nil
}

// AppendSTZeroSample implements storage.Appender. Synthetic zero samples at a series'
// start time are not written: they would be older than samples already sent.
func (a *appender) AppendSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref, nil
}

// appendable is the component's storage.Appendable: it stays valid for the component's
// life and appends to whichever WAL is open, failing while none is.
type appendable struct{ c *Component }

// Appender implements storage.Appendable.
func (a appendable) Appender(context.Context) storage.Appender {
	w := a.c.wal.Load()
	if w == nil || w.closing.Load() {
		return pipeline.ErrAppender(errClosed)
	}
	return newAppender(w)
}
