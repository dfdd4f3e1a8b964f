package serve

import (
	"cmp"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// writeExposition writes samples in format, each sample with its timestamp, sorted by family
// name and labels, and returns how many native histograms it left out: the text formats
// (Prometheus text and OpenMetrics 1.0) cannot carry them. It sorts samples in place.
//
// A sample whose metric name has metadata (meta, by metric name) is served in its family
// with the family's type, help and unit (OpenMetrics only, where the name ends in it): a
// classic histogram's foo_bucket, foo_sum and foo_count series become histogram foo again,
// a summary's quantiles, foo_sum and foo_count summary foo. Samples without metadata are
// served untyped, one family per metric name, as Prometheus' own /federate does; so are
// the series of a histogram or summary that do not make a complete one (no +Inf bucket, no
// _sum or _count, a count that is not a whole number, ...), of a gauge histogram, and of
// families whose names collide.
//
// Native histograms are served in the protobuf formats, in the histogram foo (a gauge
// histogram when they are gauges), together with the classic buckets of foo where both are
// kept, as client_golang serves a histogram with both. Those with custom buckets (NHCB),
// which the exposition formats do not have, are served as the classic histograms they
// were made from, in every format (OpenMetrics 1.0 only where their counts are whole
// numbers). Exemplars are served on counters, classic buckets and
// native histograms, where the format has them (OpenMetrics and protobuf).
func writeExposition(w io.Writer, format expfmt.Format, samples []sample, meta map[string]metadata.Metadata) (unserved int, err error) {
	natives := carriesNativeHistograms(format)
	openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
	floats := samples[:0]
	var hists []sample
	for _, s := range samples {
		s.name = s.lset.Get(labels.MetricName)
		switch {
		case !s.ext.isHistogram():
			floats = append(floats, s)
		case natives, customBuckets(s.ext) && (!openMetrics || wholeCounts(s.ext)):
			// NHCB are served as classic histograms, in OpenMetrics 1.0 if their counts
			// are whole numbers.
			hists = append(hists, s)
		default:
			unserved++
		}
	}
	fams := familiesOf(floats, meta)
	if len(hists) > 0 {
		var left int
		fams, left = withNativeHistograms(fams, hists, meta)
		unserved += left
	}
	enc := expfmt.NewEncoder(w, format)
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return unserved, err
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		return unserved, c.Close()
	}
	return unserved, nil
}

// carriesNativeHistograms reports whether format can carry native histograms: the
// protobuf formats only.
func carriesNativeHistograms(format expfmt.Format) bool {
	switch format.FormatType() {
	case expfmt.TypeProtoDelim, expfmt.TypeProtoText, expfmt.TypeProtoCompact:
		return true
	}
	return false
}

// familiesOf groups samples (named) into metric families sorted by name.
func familiesOf(samples []sample, meta map[string]metadata.Metadata) []*dto.MetricFamily {
	slices.SortFunc(samples, func(a, b sample) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return labels.Compare(a.lset, b.lset)
	})
	var typed map[string]*typedFamily
	if len(meta) > 0 {
		typed = typedFamilies(samples, meta)
	}
	out := make([]*dto.MetricFamily, 0, len(typed)+16)
	for start := 0; start < len(samples); {
		end := start + 1
		for end < len(samples) && samples[end].name == samples[start].name {
			end++
		}
		// The samples of one name are typed or untyped as a whole (see typedFamilies), but
		// a histogram's or summary's series may be left out where they make no complete one.
		run := samples[start:end]
		if typed != nil {
			run = slices.DeleteFunc(slices.Clone(run), func(s sample) bool { return s.typed })
		}
		if len(run) > 0 {
			out = append(out, family(run))
		}
		start = end
	}
	for _, f := range typed {
		out = append(out, f.mf)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}

// family builds the untyped family of samples (all with the same name), allocating its
// metrics, label pairs and scalars in a few slices rather than one by one.
func family(samples []sample) *dto.MetricFamily {
	// Exact capacities: the pairs and strings are referenced by pointer as they are added,
	// so the slices must never grow.
	nLabels := 0
	for _, s := range samples {
		s.lset.Range(func(l labels.Label) {
			if l.Name != labels.MetricName {
				nLabels++
			}
		})
	}
	var (
		metrics   = make([]dto.Metric, len(samples))
		ptrs      = make([]*dto.Metric, len(samples))
		untypeds  = make([]dto.Untyped, len(samples))
		values    = make([]float64, len(samples))
		stamps    = make([]int64, len(samples))
		pairs     = make([]dto.LabelPair, 0, nLabels)
		pairPtrs  = make([]*dto.LabelPair, 0, nLabels)
		strs      = make([]string, 0, 2*nLabels)
		name      = samples[0].name
		untyped   = dto.MetricType_UNTYPED
		labelFrom = 0
	)
	for i, s := range samples {
		s.lset.Range(func(l labels.Label) {
			if l.Name == labels.MetricName {
				return
			}
			strs = append(strs, l.Name, l.Value)
			pairs = append(pairs, dto.LabelPair{Name: &strs[len(strs)-2], Value: &strs[len(strs)-1]})
			pairPtrs = append(pairPtrs, &pairs[len(pairs)-1])
		})
		values[i], stamps[i] = s.v, s.t
		untypeds[i].Value = &values[i]
		metrics[i].Label = pairPtrs[labelFrom:len(pairPtrs):len(pairPtrs)]
		metrics[i].Untyped = &untypeds[i]
		metrics[i].TimestampMs = &stamps[i]
		ptrs[i] = &metrics[i]
		labelFrom = len(pairPtrs)
	}
	return &dto.MetricFamily{Name: &name, Type: &untyped, Metric: ptrs}
}

// part is what a series is to its family.
type part int

const (
	partValue  part = iota // a counter's, gauge's or unknown's value, a summary's quantile
	partBucket             // a histogram's _bucket
	partSum                // _sum
	partCount              // _count
)

// familyOf returns the family of a series named name whose family has type typ, and the
// part the series is of it; false when the series has no place in a family served typed.
func familyOf(name string, typ model.MetricType) (string, part, bool) {
	switch typ {
	case model.MetricTypeHistogram:
		for _, s := range [...]struct {
			suffix string
			p      part
		}{{"_bucket", partBucket}, {"_sum", partSum}, {"_count", partCount}} {
			if f, ok := strings.CutSuffix(name, s.suffix); ok && f != "" {
				return f, s.p, true
			}
		}
		return "", 0, false // a native histogram, or a _created series
	case model.MetricTypeSummary:
		for _, s := range [...]struct {
			suffix string
			p      part
		}{{"_sum", partSum}, {"_count", partCount}} {
			if f, ok := strings.CutSuffix(name, s.suffix); ok && f != "" {
				return f, s.p, true
			}
		}
		return name, partValue, true
	case model.MetricTypeGaugeHistogram:
		return "", 0, false // the text format has no gauge histograms
	default: // counter, gauge, unknown, info, stateset: one value per series
		return name, partValue, true
	}
}

// dtoType is the exposition type of a family of type typ (histogram and summary included).
func dtoType(typ model.MetricType) dto.MetricType {
	switch typ {
	case model.MetricTypeCounter:
		return dto.MetricType_COUNTER
	case model.MetricTypeGauge:
		return dto.MetricType_GAUGE
	case model.MetricTypeHistogram:
		return dto.MetricType_HISTOGRAM
	case model.MetricTypeSummary:
		return dto.MetricType_SUMMARY
	default:
		return dto.MetricType_UNTYPED
	}
}

// typedFamily is a family served with its metadata.
type typedFamily struct {
	name string
	meta metadata.Metadata
	idx  []int // its samples
	mf   *dto.MetricFamily
}

// typedFamilies builds the families of the samples (sorted by name and labels) whose names
// have metadata, and marks those samples typed. The rest are served untyped by name.
func typedFamilies(samples []sample, meta map[string]metadata.Metadata) map[string]*typedFamily {
	fams := map[string]*typedFamily{}
	untypedNames := map[string]bool{}
	for i := range samples {
		s := &samples[i]
		m, ok := meta[s.name]
		var fname string
		if ok {
			fname, s.part, ok = familyOf(s.name, m.Type)
		}
		if !ok {
			untypedNames[s.name] = true
			continue
		}
		f := fams[fname]
		if f == nil {
			f = &typedFamily{name: fname, meta: m}
			fams[fname] = f
		} else if f.meta.Type != m.Type {
			f.meta.Type = "" // parts of different types claim the name: served untyped
		}
		f.idx = append(f.idx, i)
	}
	// Build each family; the series of histograms and summaries that make no complete one
	// are served untyped, which may make other names collide, so until nothing changes.
	for changed := true; changed; {
		changed = false
		for name, f := range fams {
			if f.mf == nil && f.meta.Type != "" {
				left := f.build(samples)
				for _, i := range left {
					untypedNames[samples[i].name] = true
				}
				changed = changed || len(left) > 0
			}
			if f.meta.Type == "" || untypedNames[name] || len(f.mf.GetMetric()) == 0 {
				for _, i := range f.idx {
					untypedNames[samples[i].name] = true
				}
				delete(fams, name)
				changed = true
			}
		}
	}
	for _, f := range fams {
		for _, i := range f.idx {
			samples[i].typed = true
		}
	}
	return fams
}

// build builds f.mf from its samples (sorted by name and labels) and keeps in f.idx those
// that are in it; it returns the others.
func (f *typedFamily) build(samples []sample) (left []int) {
	typ := dtoType(f.meta.Type)
	f.mf = &dto.MetricFamily{Name: &f.name, Type: &typ}
	if f.meta.Help != "" {
		f.mf.Help = &f.meta.Help
	}
	base := f.name
	if typ == dto.MetricType_COUNTER {
		base = strings.TrimSuffix(base, "_total")
	}
	if u := f.meta.Unit; u != "" && strings.HasSuffix(base, "_"+u) {
		f.mf.Unit = &f.meta.Unit // OpenMetrics wants the unit at the end of the name
	}
	if typ != dto.MetricType_HISTOGRAM && typ != dto.MetricType_SUMMARY {
		for _, i := range f.idx {
			f.mf.Metric = append(f.mf.Metric, scalar(samples[i], typ))
		}
		return nil
	}
	// Histograms and summaries: one metric per label set, less le or quantile.
	drop := model.BucketLabel
	if typ == dto.MetricType_SUMMARY {
		drop = model.QuantileLabel
	}
	groups := map[string][]int{}
	var keys []string
	lb := labels.NewBuilder(labels.EmptyLabels())
	for _, i := range f.idx {
		lb.Reset(samples[i].lset)
		k := lb.Del(labels.MetricName, drop).Labels().String()
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	slices.Sort(keys)
	var kept []int
	for _, k := range keys {
		idx := groups[k]
		var m *dto.Metric
		if typ == dto.MetricType_HISTOGRAM {
			m = histogramOf(samples, idx)
		} else {
			m = summaryOf(samples, idx)
		}
		if m == nil {
			left = append(left, idx...)
			continue
		}
		f.mf.Metric = append(f.mf.Metric, m)
		kept = append(kept, idx...)
	}
	f.idx = kept
	return left
}

// pairsOf returns the label pairs of l less the metric name and the label drop.
func pairsOf(l labels.Labels, drop string) []*dto.LabelPair {
	var out []*dto.LabelPair
	l.Range(func(l labels.Label) {
		if l.Name != labels.MetricName && l.Name != drop {
			out = append(out, &dto.LabelPair{Name: &l.Name, Value: &l.Value})
		}
	})
	return out
}

func scalar(s sample, typ dto.MetricType) *dto.Metric {
	m := &dto.Metric{Label: pairsOf(s.lset, ""), TimestampMs: &s.t}
	switch typ {
	case dto.MetricType_COUNTER:
		m.Counter = &dto.Counter{Value: &s.v, Exemplar: exemplarOf(s, false)}
	case dto.MetricType_GAUGE:
		m.Gauge = &dto.Gauge{Value: &s.v}
	default:
		m.Untyped = &dto.Untyped{Value: &s.v}
	}
	return m
}

// count returns v as a count: a whole number, not negative.
func count(v float64) (uint64, bool) {
	if v < 0 || v != math.Trunc(v) || v >= 1<<63 {
		return 0, false
	}
	return uint64(v), true
}

// aggregate reads the _sum and _count of one histogram or summary from its series (idx),
// handing the others to point; ok is false unless there is exactly one _sum, one _count (a
// whole number) and point takes every other series. ts is the newest timestamp of them.
func aggregate(samples []sample, idx []int, point func(sample) bool) (sum *float64, n *uint64, ts int64, ok bool) {
	ts = math.MinInt64
	for _, i := range idx {
		s := samples[i]
		ts = max(ts, s.t)
		switch s.part {
		case partSum:
			if sum != nil {
				return nil, nil, 0, false
			}
			sum = &s.v
		case partCount:
			c, ok := count(s.v)
			if !ok || n != nil {
				return nil, nil, 0, false
			}
			n = &c
		default:
			if !point(s) {
				return nil, nil, 0, false
			}
		}
	}
	return sum, n, ts, sum != nil && n != nil
}

// sortedDistinct sorts xs by key and reports whether no two keys are equal.
func sortedDistinct[T any](xs []T, key func(T) float64) bool {
	slices.SortFunc(xs, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	for i := 1; i < len(xs); i++ {
		if key(xs[i]) == key(xs[i-1]) {
			return false
		}
	}
	return true
}

// histogramOf builds the histogram of one label set from its series (idx); nil unless they
// are exactly one _sum, one _count and buckets with distinct bounds including +Inf, counts
// being whole numbers. Its timestamp is the newest of them.
func histogramOf(samples []sample, idx []int) *dto.Metric {
	var buckets []*dto.Bucket
	inf := false
	sum, n, ts, ok := aggregate(samples, idx, func(s sample) bool {
		le, err := strconv.ParseFloat(s.lset.Get(model.BucketLabel), 64)
		c, ok := count(s.v)
		if s.part != partBucket || err != nil || math.IsNaN(le) || !ok {
			return false
		}
		inf = inf || math.IsInf(le, 1)
		buckets = append(buckets, &dto.Bucket{UpperBound: &le, CumulativeCount: &c, Exemplar: exemplarOf(s, false)})
		return true
	})
	if !ok || !inf || !sortedDistinct(buckets, (*dto.Bucket).GetUpperBound) {
		return nil
	}
	h := &dto.Histogram{SampleSum: sum, SampleCount: n, Bucket: buckets}
	return &dto.Metric{Label: pairsOf(samples[idx[0]].lset, model.BucketLabel), Histogram: h, TimestampMs: &ts}
}

// summaryOf builds the summary of one label set from its series (idx); nil unless they are
// exactly one _sum, one _count (a whole number) and quantiles with distinct, valid ranks.
// Its timestamp is the newest of them.
func summaryOf(samples []sample, idx []int) *dto.Metric {
	var quantiles []*dto.Quantile
	sum, n, ts, ok := aggregate(samples, idx, func(s sample) bool {
		q, err := strconv.ParseFloat(s.lset.Get(model.QuantileLabel), 64)
		if s.part != partValue || err != nil || math.IsNaN(q) {
			return false
		}
		quantiles = append(quantiles, &dto.Quantile{Quantile: &q, Value: &s.v})
		return true
	})
	if !ok || !sortedDistinct(quantiles, (*dto.Quantile).GetQuantile) {
		return nil
	}
	sm := &dto.Summary{SampleSum: sum, SampleCount: n, Quantile: quantiles}
	return &dto.Metric{Label: pairsOf(samples[idx[0]].lset, model.QuantileLabel), Summary: sm, TimestampMs: &ts}
}

// exemplarOf returns the exemplar of s; nil when it has none. One without a timestamp gets
// the sample's when withTs (native histograms' exemplars need one).
func exemplarOf(s sample, withTs bool) *dto.Exemplar {
	if s.ext == nil || !s.ext.hasEx {
		return nil
	}
	ex := s.ext.ex
	out := &dto.Exemplar{Label: pairsOf(ex.Labels, ""), Value: &ex.Value}
	switch {
	case ex.HasTs:
		out.Timestamp = timestamppb.New(time.UnixMilli(ex.Ts))
	case withTs:
		out.Timestamp = timestamppb.New(time.UnixMilli(s.t))
	}
	return out
}
