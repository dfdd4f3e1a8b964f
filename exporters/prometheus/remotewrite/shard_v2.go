package remotewrite

import (
	"github.com/prometheus/common/model"
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
	build := func(get func(string) (metadata.Metadata, bool)) {
		for i := range items {
			it := &items[i]
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
			smpl[i] = writev2.Sample{Value: it.v, Timestamp: it.t}
			series := writev2.TimeSeries{LabelsRefs: refs[start:len(refs):len(refs)], Samples: smpl[i : i+1 : i+1]}
			if m, ok := get(name); ok {
				series.Metadata = writev2.Metadata{
					Type:    writev2.FromMetadataType(m.Type),
					HelpRef: b.symbols.Symbolize(m.Help),
					UnitRef: b.symbols.Symbolize(m.Unit),
				}
			}
			ts = append(ts, series)
		}
	}
	if sh.s.meta.Send {
		sh.s.w.meta.lookup(build)
	} else {
		build(func(string) (metadata.Metadata, bool) { return metadata.Metadata{}, false })
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
