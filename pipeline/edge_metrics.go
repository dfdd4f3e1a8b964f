package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// KindMetrics: the referenced component accepts samples (it implements MetricsReceiver).
const KindMetrics EdgeKind = "metrics"

// Appendable is the metrics edge: Prometheus' own storage.Appendable, so samples cross no
// conversion between scrape, relabel and remote write.
type Appendable = storage.Appendable

// MetricsReceiver is implemented by components whose registration exports KindMetrics.
// The returned Appendable must stay valid for the life of the component. Series refs its
// appenders return must be below 1<<48 (the controller stamps the top bits so that a ref
// cached by a caller never reaches a restarted instance); larger refs are not cached.
type MetricsReceiver interface {
	Appendable() Appendable
}

// metricsHandle is the stable Appendable of one component id: it delegates to whatever
// instance of the component runs now, so references survive restarts.
//
// Series refs returned by an instance mean nothing to the next one, yet callers (scrape
// loops, prometheus.relabel) cache them. The handle therefore stamps every ref it hands out
// with the instance's generation in the top refGenBits bits and passes only refs of the
// current generation down (others become 0, the "look it up" ref). Components must hand
// out refs below 1<<(64-refGenBits).
type metricsHandle struct {
	id     string
	target atomic.Pointer[generation]
	gens   atomic.Uint64
}

type generation struct {
	app Appendable
	gen uint64 // already shifted into the top bits
}

const (
	refGenBits = 16
	refMask    = 1<<(64-refGenBits) - 1
)

func (h *metricsHandle) set(a Appendable) {
	if a == nil {
		h.target.Store(nil)
		return
	}
	g := (h.gens.Add(1) % (1 << refGenBits)) << (64 - refGenBits)
	h.target.Store(&generation{app: a, gen: g})
}

func (h *metricsHandle) Appender(ctx context.Context) storage.Appender { return h.appender(ctx, nil) }

// appender is Appender with the accepted samples counted (and sampled while watched) on
// the edge tap e; nil e counts nothing. See tap.go.
func (h *metricsHandle) appender(ctx context.Context, e *edgeTap) storage.Appender {
	if g := h.target.Load(); g != nil {
		return &genAppender{Appender: g.app.Appender(ctx), gen: g.gen, tap: e.metricsTap()}
	}
	return ErrAppender(fmt.Errorf("component %s is not running", h.id))
}

// genAppender translates refs between the caller and one generation of a component.
type genAppender struct {
	storage.Appender
	gen uint64
	tap metricsTap // live-data hook of the edge this appender belongs to
}

func (a *genAppender) in(ref storage.SeriesRef) storage.SeriesRef {
	if uint64(ref)&^refMask != a.gen {
		return 0
	}
	return ref & refMask
}

func (a *genAppender) out(ref storage.SeriesRef, err error) (storage.SeriesRef, error) {
	if ref == 0 || uint64(ref)&^refMask != 0 {
		return 0, err // 0, or a ref too large to stamp: the caller looks it up next time
	}
	return ref | storage.SeriesRef(a.gen), err
}

func (a *genAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	a.tap.sample(l, t, v)
	return a.out(a.Appender.Append(a.in(ref), l, t, v))
}

func (a *genAppender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	return a.out(a.Appender.AppendExemplar(a.in(ref), l, e))
}

func (a *genAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	a.tap.histogram(l, t, h, fh)
	return a.out(a.Appender.AppendHistogram(a.in(ref), l, t, h, fh))
}

func (a *genAppender) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return a.out(a.Appender.AppendHistogramSTZeroSample(a.in(ref), l, t, st, h, fh))
}

func (a *genAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	return a.out(a.Appender.UpdateMetadata(a.in(ref), l, m))
}

func (a *genAppender) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	return a.out(a.Appender.AppendSTZeroSample(a.in(ref), l, t, st))
}

func (a *genAppender) Commit() error {
	err := a.Appender.Commit()
	if err == nil {
		a.tap.commit()
	} else {
		a.tap.rollback()
	}
	return err
}

func (a *genAppender) Rollback() error {
	a.tap.rollback()
	return a.Appender.Rollback()
}

// fanout appends to several Appendables; series refs are per destination, so it hands back 0.
type fanout []Appendable

func (f fanout) Appender(ctx context.Context) storage.Appender {
	apps := make(fanoutAppender, len(f))
	for i, a := range f {
		apps[i] = a.Appender(ctx)
	}
	return apps
}

type fanoutAppender []storage.Appender

func (f fanoutAppender) each(fn func(storage.Appender) error) error {
	var errs []error
	for _, a := range f {
		if err := fn(a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (f fanoutAppender) Append(_ storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	return 0, f.each(func(a storage.Appender) error { _, err := a.Append(0, l, t, v); return err })
}

func (f fanoutAppender) AppendExemplar(_ storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, f.each(func(a storage.Appender) error { _, err := a.AppendExemplar(0, l, e); return err })
}

func (f fanoutAppender) AppendHistogram(_ storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, f.each(func(a storage.Appender) error { _, err := a.AppendHistogram(0, l, t, h, fh); return err })
}

func (f fanoutAppender) AppendHistogramSTZeroSample(_ storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, f.each(func(a storage.Appender) error {
		_, err := a.AppendHistogramSTZeroSample(0, l, t, st, h, fh)
		return err
	})
}

func (f fanoutAppender) UpdateMetadata(_ storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	return 0, f.each(func(a storage.Appender) error { _, err := a.UpdateMetadata(0, l, m); return err })
}

func (f fanoutAppender) AppendSTZeroSample(_ storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	return 0, f.each(func(a storage.Appender) error { _, err := a.AppendSTZeroSample(0, l, t, st); return err })
}

func (f fanoutAppender) SetOptions(o *storage.AppendOptions) {
	for _, a := range f {
		a.SetOptions(o)
	}
}

func (f fanoutAppender) Commit() error   { return f.each(storage.Appender.Commit) }
func (f fanoutAppender) Rollback() error { return f.each(storage.Appender.Rollback) }

// ErrAppender returns a storage.Appender that fails every call with err (Rollback
// excepted): what a sender is handed while the receiving end is not running.
func ErrAppender(err error) storage.Appender { return errAppender{err: err} }

// errAppender fails every call with err.
type errAppender struct{ err error }

func (e errAppender) Append(storage.SeriesRef, labels.Labels, int64, float64) (storage.SeriesRef, error) {
	return 0, e.err
}
func (e errAppender) AppendExemplar(storage.SeriesRef, labels.Labels, exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, e.err
}
func (e errAppender) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, e.err
}
func (e errAppender) AppendHistogramSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, e.err
}
func (e errAppender) UpdateMetadata(storage.SeriesRef, labels.Labels, metadata.Metadata) (storage.SeriesRef, error) {
	return 0, e.err
}
func (e errAppender) AppendSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64) (storage.SeriesRef, error) {
	return 0, e.err
}
func (e errAppender) SetOptions(*storage.AppendOptions) {}
func (e errAppender) Commit() error                     { return e.err }
func (e errAppender) Rollback() error                   { return nil }
