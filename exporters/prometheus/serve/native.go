package serve

import (
	"cmp"
	"math"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
)

// isGauge reports whether e's native histogram is a gauge histogram.
func isGauge(e *seriesExt) bool {
	if e.h != nil {
		return e.h.CounterResetHint == histogram.GaugeType
	}
	return e.fh.CounterResetHint == histogram.GaugeType
}

// customBuckets reports whether e's native histogram is a counter histogram with custom
// buckets (NHCB), which is served as the classic histogram it was made from.
func customBuckets(e *seriesExt) bool {
	if isGauge(e) {
		return false // the text formats have no gauge histograms
	}
	if e.h != nil {
		return e.h.UsesCustomBuckets()
	}
	return e.fh.UsesCustomBuckets()
}

// wholeCounts reports whether e's histogram counts are whole numbers: integer histograms
// and float ones that could be.
func wholeCounts(e *seriesExt) bool {
	if e.h != nil {
		return true
	}
	if _, ok := count(e.fh.Count); !ok {
		return false
	}
	for _, b := range e.fh.PositiveBuckets {
		if _, ok := count(b); !ok {
			return false
		}
	}
	return true
}

// withNativeHistograms adds the native histograms hists (named) to fams, the families of the float samples: to the histogram family of their
// name, merged into the metric of the same labels if it has classic buckets, or to a new
// family, with the name's help and unit. It returns the families sorted by name, and how
// many histograms it left out: those whose name's first histogram is of the other kind
// (gauge or counter), as one family has one type.
func withNativeHistograms(fams []*dto.MetricFamily, hists []sample, meta map[string]metadata.Metadata) ([]*dto.MetricFamily, int) {
	slices.SortFunc(hists, func(a, b sample) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return labels.Compare(a.lset, b.lset)
	})
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		if t := f.GetType(); t == dto.MetricType_HISTOGRAM || t == dto.MetricType_GAUGE_HISTOGRAM {
			byName[f.GetName()] = f
		}
	}
	left := 0
	for start := 0; start < len(hists); {
		end := start + 1
		for end < len(hists) && hists[end].name == hists[start].name {
			end++
		}
		run := hists[start:end]
		start = end
		gauge := isGauge(run[0].ext)
		typ := dto.MetricType_HISTOGRAM
		if gauge {
			typ = dto.MetricType_GAUGE_HISTOGRAM
		}
		f := byName[run[0].name]
		if f == nil || f.GetType() != typ {
			f = histogramFamily(run[0].name, typ, meta[run[0].name])
			fams = append(fams, f)
			byName[run[0].name] = f
		}
		existing := make(map[string]*dto.Metric, len(f.Metric))
		for _, m := range f.Metric {
			existing[pairsKey(m.Label)] = m
		}
		appended := false
		for _, s := range run {
			if isGauge(s.ext) != gauge {
				left++
				continue
			}
			pairs := pairsOf(s.lset, "")
			if m := existing[pairsKey(pairs)]; m != nil {
				mergeNative(m, s)
				continue
			}
			t := s.t
			m := &dto.Metric{Label: pairs, Histogram: histogramDTO(s), TimestampMs: &t}
			f.Metric = append(f.Metric, m)
			appended = true
		}
		if appended && len(existing) > 0 {
			slices.SortFunc(f.Metric, func(a, b *dto.Metric) int {
				return strings.Compare(pairsKey(a.Label), pairsKey(b.Label))
			})
		}
	}
	fams = slices.DeleteFunc(fams, func(f *dto.MetricFamily) bool { return len(f.Metric) == 0 })
	slices.SortStableFunc(fams, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return fams, left
}

// histogramFamily returns an empty family name of type typ, with the help and unit of m
// where m is a histogram's metadata.
func histogramFamily(name string, typ dto.MetricType, m metadata.Metadata) *dto.MetricFamily {
	f := &dto.MetricFamily{Name: &name, Type: &typ}
	if m.Type != model.MetricTypeHistogram && m.Type != model.MetricTypeGaugeHistogram {
		return f
	}
	if m.Help != "" {
		f.Help = &m.Help
	}
	if m.Unit != "" && strings.HasSuffix(name, "_"+m.Unit) {
		f.Unit = &m.Unit
	}
	return f
}

// pairsKey is a map key for a label set.
func pairsKey(pairs []*dto.LabelPair) string {
	var b strings.Builder
	for _, p := range pairs {
		b.WriteString(p.GetName())
		b.WriteByte(0xff)
		b.WriteString(p.GetValue())
		b.WriteByte(0xff)
	}
	return b.String()
}

// mergeNative adds the native histogram s to m, the classic histogram of the same series,
// as client_golang serves a histogram with both kinds of buckets. One with custom buckets
// adds nothing: it is made from classic buckets already there.
func mergeNative(m *dto.Metric, s sample) {
	if m.Histogram == nil || customBuckets(s.ext) {
		return
	}
	n := nativeDTO(s)
	h := m.Histogram
	h.Schema, h.ZeroThreshold, h.ZeroCount, h.ZeroCountFloat = n.Schema, n.ZeroThreshold, n.ZeroCount, n.ZeroCountFloat
	h.PositiveSpan, h.PositiveDelta, h.PositiveCount = n.PositiveSpan, n.PositiveDelta, n.PositiveCount
	h.NegativeSpan, h.NegativeDelta, h.NegativeCount = n.NegativeSpan, n.NegativeDelta, n.NegativeCount
	if n.SampleCountFloat != nil {
		h.SampleCountFloat = n.SampleCountFloat
	}
	h.Exemplars = n.Exemplars
	if t := s.t; m.TimestampMs == nil || *m.TimestampMs < t {
		m.TimestampMs = &t
	}
}

// histogramDTO returns the exposition of the native histogram s: classic buckets for
// custom buckets, else the native one.
func histogramDTO(s sample) *dto.Histogram {
	if customBuckets(s.ext) {
		return classicDTO(s)
	}
	return nativeDTO(s)
}

// nativeDTO returns the exposition of the exponential native histogram s, with its
// exemplar.
func nativeDTO(s sample) *dto.Histogram {
	out := &dto.Histogram{}
	if h := s.ext.h; h != nil {
		out.SampleCount, out.SampleSum = &h.Count, &h.Sum
		out.Schema, out.ZeroThreshold, out.ZeroCount = &h.Schema, &h.ZeroThreshold, &h.ZeroCount
		out.PositiveSpan, out.PositiveDelta = spansDTO(h.PositiveSpans), h.PositiveBuckets
		out.NegativeSpan, out.NegativeDelta = spansDTO(h.NegativeSpans), h.NegativeBuckets
	} else {
		fh := s.ext.fh
		out.SampleCountFloat, out.SampleSum = &fh.Count, &fh.Sum
		out.Schema, out.ZeroThreshold, out.ZeroCountFloat = &fh.Schema, &fh.ZeroThreshold, &fh.ZeroCount
		out.PositiveSpan, out.PositiveCount = spansDTO(fh.PositiveSpans), fh.PositiveBuckets
		out.NegativeSpan, out.NegativeCount = spansDTO(fh.NegativeSpans), fh.NegativeBuckets
	}
	if len(out.PositiveSpan) == 0 && len(out.NegativeSpan) == 0 && out.GetZeroThreshold() == 0 && out.GetZeroCount() == 0 {
		// Nothing would tell a parser that this is a native histogram: client_golang's
		// no-op span.
		out.PositiveSpan = []*dto.BucketSpan{{Offset: new(int32), Length: new(uint32)}}
	}
	if ex := exemplarOf(s, true); ex != nil {
		out.Exemplars = []*dto.Exemplar{ex}
	}
	return out
}

func spansDTO(spans []histogram.Span) []*dto.BucketSpan {
	if len(spans) == 0 {
		return nil
	}
	out := make([]*dto.BucketSpan, len(spans))
	for i := range spans {
		out[i] = &dto.BucketSpan{Offset: &spans[i].Offset, Length: &spans[i].Length}
	}
	return out
}

// classicDTO returns the classic histogram that the native histogram with custom buckets
// s was made from: a bucket per bound and +Inf, its exemplar on the bucket of its value;
// with integer counts where they are whole numbers (OpenMetrics 1.0 has no others).
func classicDTO(s sample) *dto.Histogram {
	fh, integer := s.ext.fh, wholeCounts(s.ext)
	if s.ext.h != nil {
		fh = s.ext.h.ToFloat(nil)
	}
	counts := make([]float64, len(fh.CustomValues)+1)
	for it := fh.PositiveBucketIterator(); it.Next(); {
		if b := it.At(); b.Index >= 0 && int(b.Index) < len(counts) {
			counts[b.Index] += b.Count
		}
	}
	out := &dto.Histogram{SampleSum: &fh.Sum, Bucket: make([]*dto.Bucket, len(counts))}
	if integer {
		n := uint64(fh.Count)
		out.SampleCount = &n
	} else {
		out.SampleCountFloat = &fh.Count
	}
	ex := exemplarOf(s, false)
	cum := 0.0
	for i, c := range counts {
		cum += c
		ub := math.Inf(1)
		if i < len(fh.CustomValues) {
			ub = fh.CustomValues[i]
		}
		b := &dto.Bucket{UpperBound: &ub}
		if integer {
			n := uint64(cum)
			b.CumulativeCount = &n
		} else {
			n := cum
			b.CumulativeCountFloat = &n
		}
		if ex != nil && ex.GetValue() <= ub {
			b.Exemplar, ex = ex, nil
		}
		out.Bucket[i] = b
	}
	return out
}
