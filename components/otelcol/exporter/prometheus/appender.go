package prometheus

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// appenderV2 presents a storage.Appender (sonde's metrics edge) as the storage.AppenderV2
// Prometheus' OTLP translator writes to. Prometheus ships only the opposite adapter
// (AppenderV2AsLimitedV1).
type appenderV2 struct {
	app storage.Appender
}

var _ storage.AppenderV2 = appenderV2{}

// Append writes the metadata (when given), the sample, and its exemplars. The start
// timestamp is not written: a zero sample at the start time would reach remote-write
// backends as an out-of-order sample for series already seen.
func (a appenderV2) Append(ref storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	var err error
	if h != nil || fh != nil {
		ref, err = a.app.AppendHistogram(ref, ls, t, h, fh)
	} else {
		ref, err = a.app.Append(ref, ls, t, v)
	}
	if err != nil {
		return ref, err
	}
	if !opts.Metadata.IsEmpty() {
		if r, merr := a.app.UpdateMetadata(ref, ls, opts.Metadata); merr == nil && r != 0 {
			ref = r
		}
	}
	for _, e := range opts.Exemplars {
		// Exemplar errors (out of order, duplicate) do not fail the sample.
		if r, eerr := a.app.AppendExemplar(ref, ls, e); eerr == nil && r != 0 {
			ref = r
		}
	}
	return ref, nil
}

func (a appenderV2) Commit() error   { return a.app.Commit() }
func (a appenderV2) Rollback() error { return a.app.Rollback() }
