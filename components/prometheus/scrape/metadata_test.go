package scrape_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/scrape/scrapetest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// metaSink records samples (in its Sink) and the metadata reported for each metric name.
type metaSink struct {
	*pipelinetest.Sink
	mu   sync.Mutex
	meta map[string]metadata.Metadata
}

func (s *metaSink) Appender(ctx context.Context) storage.Appender {
	return &metaAppender{Appender: s.Sink.Appender(ctx), s: s}
}

func (s *metaSink) get(name string) (metadata.Metadata, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meta[name]
	return m, ok
}

type metaAppender struct {
	storage.Appender
	s *metaSink
}

func (a *metaAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	a.s.mu.Lock()
	a.s.meta[l.Get(model.MetricNameLabel)] = m
	a.s.mu.Unlock()
	return ref, nil
}

// TestMetadataForwarded: the type, help and unit of what a target exposes, and of the
// scrape's own series, reach forward_to with the samples.
func TestMetadataForwarded(t *testing.T) {
	sink := &metaSink{Sink: pipelinetest.NewSink(), meta: map[string]metadata.Metadata{}}
	scrapetest.Into(t, scrapetest.TypedTarget(t), sink)

	meta := func(name string) metadata.Metadata {
		f := scrapetest.Families[name]
		return metadata.Metadata{Type: model.MetricType(f.Type), Help: f.Help}
	}
	for name, want := range map[string]metadata.Metadata{
		"requests_total":         meta("requests_total"),
		"temperature_celsius":    meta("temperature_celsius"),
		"latency_seconds_bucket": meta("latency_seconds"),
		"latency_seconds_sum":    meta("latency_seconds"),
		"latency_seconds_count":  meta("latency_seconds"),
		"up":                     {Type: model.MetricTypeGauge, Unit: "targets", Help: "Health of the scrape target. 1 means the target is healthy, 0 if the scrape failed."},
	} {
		require.Eventually(t, func() bool { _, ok := sink.get(name); return ok }, 10*time.Second, 10*time.Millisecond, "no metadata for %s", name)
		got, _ := sink.get(name)
		require.Equal(t, want, got, name)
	}
}
