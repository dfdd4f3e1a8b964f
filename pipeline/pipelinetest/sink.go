package pipelinetest

import (
	"context"
	"sync"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// Sample is one committed float sample.
type Sample struct {
	Labels labels.Labels
	T      int64
	V      float64
}

// Sink is a storage.Appendable that records committed float samples.
type Sink struct {
	mu      sync.Mutex
	samples []Sample
}

// NewSink returns an empty sink.
func NewSink() *Sink { return &Sink{} }

// Samples returns a copy of everything committed so far.
func (s *Sink) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// Appender implements storage.Appendable.
func (s *Sink) Appender(context.Context) storage.Appender { return &sinkAppender{sink: s} }

type sinkAppender struct {
	sink    *Sink
	pending []Sample
}

func (a *sinkAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	a.pending = append(a.pending, Sample{Labels: l.Copy(), T: t, V: v})
	return ref, nil
}

func (a *sinkAppender) Commit() error {
	a.sink.mu.Lock()
	a.sink.samples = append(a.sink.samples, a.pending...)
	a.sink.mu.Unlock()
	a.pending = nil
	return nil
}

func (a *sinkAppender) Rollback() error { a.pending = nil; return nil }

func (a *sinkAppender) SetOptions(*storage.AppendOptions) {}

func (a *sinkAppender) AppendExemplar(ref storage.SeriesRef, _ labels.Labels, _ exemplar.Exemplar) (storage.SeriesRef, error) {
	return ref, nil
}

func (a *sinkAppender) AppendHistogram(ref storage.SeriesRef, _ labels.Labels, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return ref, nil
}

func (a *sinkAppender) AppendHistogramSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return ref, nil
}

func (a *sinkAppender) UpdateMetadata(ref storage.SeriesRef, _ labels.Labels, _ metadata.Metadata) (storage.SeriesRef, error) {
	return ref, nil
}

func (a *sinkAppender) AppendSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref, nil
}
