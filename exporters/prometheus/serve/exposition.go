package serve

import (
	"io"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"
)

// writeExposition writes samples in format, one untyped family per metric name (as
// Prometheus' own /federate does: the types are not known here), each sample with its
// timestamp. It sorts samples in place.
func writeExposition(w io.Writer, format expfmt.Format, samples []sample) error {
	for i := range samples {
		samples[i].name = samples[i].lset.Get(labels.MetricName)
	}
	slices.SortFunc(samples, func(a, b sample) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return labels.Compare(a.lset, b.lset)
	})
	enc := expfmt.NewEncoder(w, format)
	for start := 0; start < len(samples); {
		end := start + 1
		for end < len(samples) && samples[end].name == samples[start].name {
			end++
		}
		if err := enc.Encode(family(samples[start:end])); err != nil {
			return err
		}
		start = end
	}
	if c, ok := enc.(expfmt.Closer); ok {
		return c.Close()
	}
	return nil
}

// family builds the protobuf family of samples (all with the same name), allocating its
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
