package remotewrite

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// v2Buffers are a shard's buffers for remote write 2.0 requests, reused between batches.
type v2Buffers struct {
	req     writev2.Request
	symbols writev2.SymbolsTable
	refs    []uint32
	smpl    []writev2.Sample
}

func (b *v2Buffers) release() { *b = v2Buffers{} }

// encodeV2 builds the snappy-compressed writev2.Request for items: one time series per
// sample, as with 1.0, their label names and values (and help and unit) interned in the
// request's symbols table, and, when metadata is sent, each series' type, help and unit
// inline. It reuses the shard's buffers.
func (sh *shard) encodeV2(items []queuedSample) []byte {
	b := &sh.v2
	n := len(items)
	if b.symbols.Symbols() == nil {
		b.symbols = writev2.NewSymbolTable()
	}
	b.symbols.Reset()
	if cap(b.smpl) < n {
		b.smpl = make([]writev2.Sample, n)
	}
	smpl := b.smpl[:n]
	ts := b.req.Timeseries[:0]
	refs := b.refs[:0]
	lbls := sh.lbls[:0]
	// A 2.0 time series must hold a sample or a histogram: an exemplar goes into the time
	// series of its series' sample in the request (the WAL holds it right after that sample),
	// and one without is not sent (counted).
	var last map[*memSeries]int // series → index in ts of its latest sample or histogram
	sh.exUnsent = 0
	if countExemplars(items) > 0 {
		last = map[*memSeries]int{}
	}
	build := func(get func(string) (metadata.Metadata, bool)) {
		for i := range items {
			it := &items[i]
			if x := it.x; x != nil && x.ex != nil {
				j, ok := last[it.s]
				if !ok {
					sh.exUnsent++
					continue
				}
				exStart := len(refs)
				x.ex.Labels.Range(func(l labels.Label) {
					refs = append(refs, b.symbols.Symbolize(l.Name), b.symbols.Symbolize(l.Value))
				})
				ts[j].Exemplars = append(ts[j].Exemplars, writev2.Exemplar{LabelsRefs: refs[exStart:len(refs):len(refs)], Value: x.ex.V, Timestamp: x.ex.T})
				continue
			}
			lbls = lbls[:0]
			if it.out != nil {
				lbls = appendLabels(lbls, it.out.lset, nil)
			} else {
				lbls = appendLabels(lbls, it.s.lset, sh.s.ext)
			}
			start := len(refs)
			var name string
			for _, l := range lbls {
				refs = append(refs, b.symbols.Symbolize(l.Name), b.symbols.Symbolize(l.Value))
				if l.Name == model.MetricNameLabel {
					name = l.Value
				}
			}
			series := writev2.TimeSeries{LabelsRefs: refs[start:len(refs):len(refs)]}
			switch x := it.x; {
			case x == nil:
				smpl[i] = writev2.Sample{Value: it.v, Timestamp: it.t, StartTimestamp: it.st}
				series.Samples = smpl[i : i+1 : i+1]
			case x.h != nil:
				series.Histograms = []writev2.Histogram{writev2.FromIntHistogram(0, it.t, x.h)}
			case x.fh != nil:
				series.Histograms = []writev2.Histogram{writev2.FromFloatHistogram(0, it.t, x.fh)}
			}
			if m, ok := get(name); ok {
				series.Metadata = writev2.Metadata{
					Type:    writev2.FromMetadataType(m.Type),
					HelpRef: b.symbols.Symbolize(m.Help),
					UnitRef: b.symbols.Symbolize(m.Unit),
				}
			}
			ts = append(ts, series)
			if last != nil {
				last[it.s] = len(ts) - 1
			}
		}
	}
	if sh.s.meta.Send {
		sh.s.w.meta.lookup(build)
	} else {
		build(func(string) (metadata.Metadata, bool) { return metadata.Metadata{}, false })
	}
	if sh.exUnsent > 0 {
		sh.s.w.m.exemplarsDropped.WithLabelValues(reasonNoSample).Add(float64(sh.exUnsent))
	}
	b.req.Symbols, b.req.Timeseries, b.refs, sh.lbls = b.symbols.Symbols(), ts, refs, lbls
	size := b.req.Size()
	if cap(sh.pb) < size {
		sh.pb = make([]byte, size)
	}
	k, _ := b.req.OptimizedMarshalToSizedBuffer(sh.pb[:size]) // cannot fail: the buffer has Size() bytes
	sh.body = compress(sh.body, sh.pb[size-k:size])
	return sh.body
}
