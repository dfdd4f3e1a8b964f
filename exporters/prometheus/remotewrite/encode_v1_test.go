package remotewrite

import (
	"log/slog"
	"math"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestEncodeV1MatchesPrompb: the hand-written encoder produces the bytes prompb's own
// marshaller produces for the same request, external labels merged (the series' value
// wins), endpoint-relabelled series sent as relabelled, odd values included.
func TestEncodeV1MatchesPrompb(t *testing.T) {
	args := testArgs(t, "http://127.0.0.1:1/api/v1/write")
	args.ExternalLabels = map[string]string{"cluster": "prod", "a": "first", "job": "ext", "zz": "last"}
	w := benchWAL(t)
	s, err := newSender(senderOptions{logger: slog.New(slog.DiscardHandler), m: w.m.forEndpoint("t"), w: w, cfg: args.Endpoint, ext: args.ExternalLabels})
	require.NoError(t, err)
	sh := s.shards[0]

	long := string(make([]byte, 300))   // a length needing a two-byte varint
	huge := string(make([]byte, 20000)) // a series needing a three-byte one
	series := []labels.Labels{
		labels.FromStrings("__name__", "up", "instance", "x:1", "job", "own"),
		labels.FromStrings("__name__", "m", "l", long),
		labels.FromStrings("__name__", "h", "l", huge),
		labels.FromStrings("__name__", "only"),
		labels.FromStrings("__name__", "empty_value", "e", ""),
	}
	values := []float64{1, 0, math.Copysign(0, -1), math.NaN(), math.Inf(-1), -2.5e300}
	stamps := []int64{1700000000123, 0, -1, math.MaxInt64}
	var items []queuedSample
	for i, ls := range series {
		ms, _ := w.table.getOrCreate(ls, 0)
		for j, v := range values {
			items = append(items, queuedSample{s: ms, v: v, t: stamps[(i+j)%len(stamps)]})
		}
	}
	items = append(items, queuedSample{s: items[0].s, out: &relabelled{lset: labels.FromStrings("__name__", "renamed", "x", "y")}, v: 3, t: 4})

	var want prompb.WriteRequest
	for _, it := range items {
		var lbls []prompb.Label
		if it.out != nil {
			lbls = appendLabels(nil, it.out.lset, nil)
		} else {
			lbls = appendLabels(nil, it.s.lset, s.ext)
		}
		want.Timeseries = append(want.Timeseries, prompb.TimeSeries{Labels: lbls, Samples: []prompb.Sample{{Value: it.v, Timestamp: it.t}}})
	}
	wantPB, err := want.Marshal()
	require.NoError(t, err)

	for range 2 { // the second time with the buffers of the first
		got, err := s2.Decode(nil, sh.encodeV1(items))
		require.NoError(t, err)
		require.Equal(t, wantPB, got)
	}
	require.Contains(t, want.Timeseries[0].Labels, prompb.Label{Name: "job", Value: "own"}, "the series' value wins")
	require.Equal(t, prompb.Label{Name: "a", Value: "first"}, want.Timeseries[0].Labels[1], "external labels sorted in")
}

func BenchmarkEncodeV1Labels(b *testing.B) {
	ls := realisticSeries(1, 0)[0]
	ext := externalLabels(map[string]string{"cluster": "prod"})
	var buf, raw []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, raw = appendLabelsPB(buf[:0], raw, ls, ext)
	}
}
