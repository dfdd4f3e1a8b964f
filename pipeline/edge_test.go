package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

type recordingReceiver struct {
	mu      sync.Mutex
	batches []LogBatch
	err     error
}

func (r *recordingReceiver) ConsumeLogs(_ context.Context, b LogBatch) error {
	if r.err != nil {
		return r.err
	}
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	return nil
}

func TestLogsFanoutAcksOnceAllAcked(t *testing.T) {
	a, b := &recordingReceiver{}, &recordingReceiver{}
	var acks []error
	batch := NewLogBatch([]LogEntry{{Line: "x"}}, func(err error) { acks = append(acks, err) })
	require.NoError(t, logsFanout{a, b}.ConsumeLogs(context.Background(), batch))

	// Each receiver got its own copy of the entries.
	a.batches[0].Entries[0].Line = "changed"
	require.Equal(t, "x", b.batches[0].Entries[0].Line)

	a.batches[0].Ack(nil)
	require.Empty(t, acks, "not acknowledged before every receiver is done")
	b.batches[0].Ack(errors.New("dropped: 400"))
	b.batches[0].Ack(nil) // a second Ack is ignored
	require.Len(t, acks, 1)
	require.ErrorContains(t, acks[0], "dropped: 400")
}

func TestLogsFanoutRejected(t *testing.T) {
	a, b := &recordingReceiver{}, &recordingReceiver{err: context.Canceled}
	var acks []error
	batch := NewLogBatch([]LogEntry{{Line: "x"}}, func(err error) { acks = append(acks, err) })
	err := logsFanout{a, b}.ConsumeLogs(context.Background(), batch)
	require.ErrorIs(t, err, context.Canceled)
	a.batches[0].Ack(nil)
	require.Len(t, acks, 1, "the original is settled once the accepted copies are")
}

func TestLogsHandleWaitsForRestart(t *testing.T) {
	h := &logsHandle{id: "loki.write/x"}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.ConsumeLogs(ctx, NewLogBatch(nil, nil))
	require.ErrorContains(t, err, "loki.write/x is not running")

	r := &recordingReceiver{}
	go func() { time.Sleep(20 * time.Millisecond); h.set(r) }()
	require.NoError(t, h.ConsumeLogs(context.Background(), NewLogBatch(nil, nil)))
	require.Len(t, r.batches, 1)
}

func TestTargetsViewUnion(t *testing.T) {
	h1, h2 := newTargetsHandle(), newTargetsHandle()
	v := newTargetsView([]*targetsHandle{h1, h2})
	defer v.Close()
	<-v.Changed() // the initial notification
	h1.publish(Targets{{"__address__": "a"}})
	<-v.Changed()
	h2.publish(Targets{{"__address__": "b"}})
	<-v.Changed()
	require.Equal(t, Targets{{"__address__": "a"}, {"__address__": "b"}}, v.Get())
	v.Close()
	h1.publish(Targets{{"__address__": model.LabelValue("c")}})
	select {
	case <-v.Changed():
		t.Fatal("a closed view is not notified")
	default:
	}
}

// refSink hands out ref 7 for everything and records the refs it was given.
type refSink struct{ got []storage.SeriesRef }

func (r *refSink) Appender(context.Context) storage.Appender { return &refApp{r} }

type refApp struct{ *refSink }

func (a *refApp) Append(ref storage.SeriesRef, _ labels.Labels, _ int64, _ float64) (storage.SeriesRef, error) {
	a.got = append(a.got, ref)
	return 7, nil
}
func (a *refApp) Commit() error   { return nil }
func (a *refApp) Rollback() error { return nil }
func (a *refApp) AppendExemplar(storage.SeriesRef, labels.Labels, exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, nil
}
func (a *refApp) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, nil
}
func (a *refApp) AppendHistogramSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, nil
}
func (a *refApp) UpdateMetadata(storage.SeriesRef, labels.Labels, metadata.Metadata) (storage.SeriesRef, error) {
	return 0, nil
}
func (a *refApp) AppendSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64) (storage.SeriesRef, error) {
	return 0, nil
}
func (a *refApp) SetOptions(*storage.AppendOptions) {}

// TestMetricsHandleRefsSurviveRestart: a ref cached from one instance is never passed to
// the next instance behind the same handle.
func TestMetricsHandleRefsSurviveRestart(t *testing.T) {
	h := &metricsHandle{id: "x/y"}
	first, second := &refSink{}, &refSink{}
	h.set(first)
	app := h.Appender(context.Background())
	ref, err := app.Append(0, labels.EmptyLabels(), 1, 1)
	require.NoError(t, err)
	_, _ = app.Append(ref, labels.EmptyLabels(), 2, 1)
	require.Equal(t, []storage.SeriesRef{0, 7}, first.got, "the instance's own ref comes back to it")

	h.set(second) // restarted
	app = h.Appender(context.Background())
	_, _ = app.Append(ref, labels.EmptyLabels(), 3, 1)
	require.Equal(t, []storage.SeriesRef{0}, second.got, "a ref of the old instance is not passed on")

	h.set(nil)
	_, err = h.Appender(context.Background()).Append(0, labels.EmptyLabels(), 4, 1)
	require.ErrorContains(t, err, "x/y is not running")
}
