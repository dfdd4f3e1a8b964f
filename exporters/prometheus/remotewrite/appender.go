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

var (
	errEmptyLabels = errors.New("series without labels")
	errHistogram   = errors.New("a histogram sample needs exactly one of an integer and a float histogram")
)

// pendingSample is a sample appended but not yet committed.
type pendingSample struct {
	s  *memSeries
	st int64 // start (created) timestamp; 0: none
	t  int64
	v  float64
}

// pendingHistogram is a native histogram sample appended but not yet committed; one of h
// and fh is set.
type pendingHistogram struct {
	s  *memSeries
	t  int64
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

// pendingExemplar is an exemplar appended but not yet committed.
type pendingExemplar struct {
	s *memSeries
	e exemplar.Exemplar
}

// pendingCommit is what one appender hands to the WAL at Commit.
type pendingCommit struct {
	samples    []pendingSample
	histograms []pendingHistogram
	exemplars  []pendingExemplar
}

func (c *pendingCommit) empty() bool {
	return len(c.samples) == 0 && len(c.histograms) == 0 && len(c.exemplars) == 0
}

// appender implements storage.Appender on the WAL. Like every storage.Appender it is used by
// one goroutine and finished with Commit or Rollback; many may run at once. The labels
// passed to Append are kept, not copied (as the Prometheus TSDB head does): callers must
// not modify them afterwards.
type appender struct {
	w *walStorage
	// st is the start timestamp AppendSTZeroSample gave for series stFor, which the scrape
	// loop appends next.
	st      int64
	stFor   *memSeries
	pending []pendingSample
	hists   []pendingHistogram
	exs     []pendingExemplar
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
	a.pending, a.hists, a.exs, a.stFor = nil, nil, nil, nil
	a.metas = nil
	a.w = nil
}

// series returns the series with labels l; ref is only a hint, used when it names a series
// with exactly these labels.
func (a *appender) series(ref storage.SeriesRef, l labels.Labels) (*memSeries, error) {
	if ref != 0 {
		if s := a.w.table.getByRef(chunks.HeadSeriesRef(ref)); s != nil && labels.Equal(s.lset, l) {
			return s, nil
		}
	}
	if l.IsEmpty() {
		return nil, errEmptyLabels
	}
	s, created := a.w.table.getOrCreate(l, a.w.epoch.Load())
	if created {
		a.w.m.seriesCreated.Inc()
	}
	return s, nil
}

// inOrder checks t against the newest committed timestamp of s: older is rejected with
// storage.ErrOutOfOrderSample, the same is dropped quietly (counted; ok false), so that
// the timestamps sent for a series never go back or repeat.
func (a *appender) inOrder(s *memSeries, t int64) (ok bool, err error) {
	switch last := s.lastTs.Load(); {
	case t < last:
		a.w.m.walDropped(reasonOutOfOrder).Inc()
		return false, storage.ErrOutOfOrderSample
	case t == last:
		a.w.m.walDropped(reasonDuplicate).Inc()
		return false, nil
	}
	return true, nil
}

// Append implements storage.Appender. ref is only a hint: it is used when it names a series
// with exactly these labels. A sample older than the newest committed one of its series is
// rejected with storage.ErrOutOfOrderSample; one with the same timestamp is dropped quietly
// (counted), so that the timestamps sent for a series never go back or repeat.
func (a *appender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	if a.w == nil || a.w.closing.Load() {
		return 0, errClosed
	}
	s, err := a.series(ref, l)
	if err != nil {
		return 0, err
	}
	if ok, err := a.inOrder(s, t); !ok {
		return storage.SeriesRef(s.ref), err
	}
	var st int64
	if a.stFor == s {
		st, a.stFor = a.st, nil
	}
	a.pending = append(a.pending, pendingSample{s: s, st: st, t: t, v: v})
	return storage.SeriesRef(s.ref), nil
}

// Commit implements storage.Appender: the samples are in the WAL when it returns nil.
func (a *appender) Commit() error {
	if a.w == nil {
		return errClosed
	}
	a.w.meta.set(a.metas)
	c := pendingCommit{samples: a.pending, histograms: a.hists, exemplars: a.exs}
	var err error
	switch {
	case !c.empty():
		err = a.w.commit(&c)
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

// AppendExemplar implements storage.Appender: the exemplar is written to the WAL with the
// samples and sent. One whose timestamp is not after the newest sample committed for its
// series was there at an earlier scrape, and sent then: a target shows its latest exemplar
// until it has a new one, so it is dropped quietly (counted, reason duplicate_timestamp).
func (a *appender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	if a.w == nil || a.w.closing.Load() {
		return 0, errClosed
	}
	s, err := a.series(ref, l)
	if err != nil {
		return 0, err
	}
	if e.HasTs && e.Ts <= s.lastTs.Load() {
		a.w.m.exemplarsDropped.WithLabelValues(reasonDuplicate).Inc()
		return storage.SeriesRef(s.ref), nil
	}
	a.exs = append(a.exs, pendingExemplar{s: s, e: e})
	return storage.SeriesRef(s.ref), nil
}

// AppendHistogram implements storage.Appender: native histograms (integer or float) are
// written to the WAL and sent like samples, with the same ordering rules.
func (a *appender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	if a.w == nil || a.w.closing.Load() {
		return 0, errClosed
	}
	if (h == nil) == (fh == nil) {
		return 0, errHistogram
	}
	s, err := a.series(ref, l)
	if err != nil {
		return 0, err
	}
	if ok, err := a.inOrder(s, t); !ok {
		return storage.SeriesRef(s.ref), err
	}
	a.hists = append(a.hists, pendingHistogram{s: s, t: t, h: h, fh: fh})
	return storage.SeriesRef(s.ref), nil
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

// AppendSTZeroSample implements storage.Appender. The scrape loop calls it (with
// start_timestamps) just before the series' sample: the start timestamp goes with that
// sample (remote write 2.0 sends it as the sample's start_timestamp). No synthetic zero
// sample is written: it would be older than samples already sent.
func (a *appender) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	if a.w == nil || a.w.closing.Load() {
		return 0, errClosed
	}
	if st <= 0 || st > t {
		return ref, nil // no usable start timestamp
	}
	s, err := a.series(ref, l)
	if err != nil {
		return 0, err
	}
	a.st, a.stFor = st, s
	return storage.SeriesRef(s.ref), nil
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
