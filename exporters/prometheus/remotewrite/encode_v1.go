package remotewrite

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
)

// Protobuf keys (field number << 3 | wire type) of the remote write 1.0 messages.
const (
	keyTimeseries = 1<<3 | 2 // WriteRequest.timeseries, length-delimited
	keyLabel      = 1<<3 | 2 // TimeSeries.labels
	keySample     = 2<<3 | 2 // TimeSeries.samples
	keyName       = 1<<3 | 2 // Label.name
	keyValue      = 2<<3 | 2 // Label.value
	keySampleVal  = 1<<3 | 1 // Sample.value, fixed64
	keySampleTs   = 2<<3 | 0 // Sample.timestamp, varint
)

// encodeV1 builds the snappy-compressed (block format) prompb.WriteRequest for items, one
// time series per sample as remote write 1.0 senders do, reusing the shard's buffers.
//
// It writes the protobuf wire format directly from the series' labels instead of filling
// prompb structs and marshalling them: that copied every label into a struct, walked the
// request twice (Size, then Marshal) and was a tenth of the agent's CPU. The output is what
// prompb's marshaller writes (TestEncodeV1MatchesPrompb).
func (sh *shard) encodeV1(items []queuedSample) []byte {
	pb, raw := sh.pb[:0], sh.raw
	for i := range items {
		it := &items[i]
		if it.x != nil {
			pb = sh.appendExtraV1(pb, it)
			continue
		}
		// The labels are written in place, after room for a two-byte length (series of 128
		// bytes to 16KiB), which is moved when it takes another number of bytes: encoding
		// them aside and copying them in was a fifth of the encoding.
		start := len(pb)
		pb = append(pb, keyTimeseries, 0, 0)
		if it.out != nil {
			pb, raw = appendLabelsPB(pb, raw, it.out.lset, nil)
		} else {
			pb, raw = appendLabelsPB(pb, raw, it.s.lset, sh.s.ext)
		}
		sampleSize := 0
		if it.v != 0 { // as prompb: 0 (and -0) is the default, left out
			sampleSize += 1 + 8
		}
		if it.t != 0 {
			sampleSize += 1 + uvarintLen(uint64(it.t))
		}
		labelsLen := len(pb) - start - 3
		size := labelsLen + 1 + uvarintLen(uint64(sampleSize)) + sampleSize
		if n := uvarintLen(uint64(size)); n != 2 {
			pb = slices.Grow(pb, n)[:len(pb)+n-2]
			copy(pb[start+1+n:], pb[start+3:start+3+labelsLen])
		}
		binary.AppendUvarint(pb[:start+1], uint64(size))
		pb = append(pb, keySample)
		pb = binary.AppendUvarint(pb, uint64(sampleSize))
		if it.v != 0 { // as prompb: 0 (and -0) is the default, left out
			pb = append(pb, keySampleVal)
			pb = binary.LittleEndian.AppendUint64(pb, math.Float64bits(it.v))
		}
		if it.t != 0 {
			pb = append(pb, keySampleTs)
			pb = binary.AppendUvarint(pb, uint64(it.t))
		}
	}
	sh.pb, sh.raw = pb, raw
	sh.body = compress(sh.body, pb)
	return sh.body
}

// appendExtraV1 appends the time series of a native histogram or an exemplar, marshalled
// by prompb: they are rare, and their encoding is long.
func (sh *shard) appendExtraV1(pb []byte, it *queuedSample) []byte {
	ts := prompb.TimeSeries{}
	if it.out != nil {
		ts.Labels = appendLabels(sh.lbls[:0], it.out.lset, nil)
	} else {
		ts.Labels = appendLabels(sh.lbls[:0], it.s.lset, sh.s.ext)
	}
	switch x := it.x; {
	case x.h != nil:
		ts.Histograms = []prompb.Histogram{prompb.FromIntHistogram(it.t, x.h)}
	case x.fh != nil:
		ts.Histograms = []prompb.Histogram{prompb.FromFloatHistogram(it.t, x.fh)}
	case x.ex != nil:
		ts.Exemplars = []prompb.Exemplar{{Labels: appendLabels(nil, x.ex.Labels, nil), Value: x.ex.V, Timestamp: x.ex.T}}
	}
	sh.lbls = ts.Labels[:0]
	size := ts.Size()
	pb = append(pb, keyTimeseries)
	pb = binary.AppendUvarint(pb, uint64(size))
	pb = slices.Grow(pb, size)
	n, _ := ts.MarshalToSizedBuffer(pb[len(pb) : len(pb)+size]) // cannot fail: Size() bytes
	return pb[:len(pb)+n]
}

// compress snappy-compresses src (block format) into dst's storage. klauspost's encoder
// writes the same format as github.com/golang/snappy, faster.
func compress(dst, src []byte) []byte {
	if n := s2.MaxEncodedLen(len(src)); cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.EncodeSnappy(dst[:cap(dst)], src)
}

// appendLabelsPB appends the TimeSeries.labels fields of the series labels merged with the
// sorted external labels (the series' own value wins), sorted by name as remote write
// requires. raw is a scratch buffer; the grown one is returned.
//
// With Prometheus' default labels implementation (stringlabels: every name and value
// prefixed by its length in one byte, or 255 and three bytes) it reads the labels' own
// encoding, copied into raw, in one loop: Labels.Range's call per label was half of the
// time spent encoding a request.
func appendLabelsPB(dst, raw []byte, ls labels.Labels, ext []prompb.Label) ([]byte, []byte) {
	if labels.ImplementationName != "stringlabels" {
		return appendLabelsPBRange(dst, ls, ext), raw
	}
	raw = ls.Bytes(raw)
	// Room for the usual case (a few bytes more per label than in raw), so that the appends
	// below do not grow dst one by one.
	dst = slices.Grow(dst, len(raw)*2+64)
	j := 0
	for i := 0; i < len(raw); {
		if n := int(raw[i]); n > 0 && n < 128 && i+1+n < len(raw) && j == len(ext) {
			// The common case past the external labels: both lengths fit a one-byte varint,
			// which is the byte raw has, so name and value are copied with their length.
			if v := int(raw[i+1+n]); v > 0 && n+v+4 < 128 {
				dst = append(dst, keyLabel, byte(n+v+4), keyName)
				dst = append(dst, raw[i:i+1+n]...)
				dst = append(dst, keyValue)
				dst = append(dst, raw[i+1+n:i+2+n+v]...)
				i += 2 + n + v
				continue
			}
		}
		var name, value []byte
		name, i = rawString(raw, i)
		value, i = rawString(raw, i)
		for j < len(ext) && ext[j].Name < string(name) {
			dst = appendLabelPB(dst, ext[j].Name, ext[j].Value)
			j++
		}
		if j < len(ext) && ext[j].Name == string(name) {
			j++
		}
		dst = appendLabelPB(dst, name, value)
	}
	for _, l := range ext[j:] {
		dst = appendLabelPB(dst, l.Name, l.Value)
	}
	return dst, raw
}

// rawString returns the string at b[i:] in stringlabels' encoding and the index after it.
func rawString(b []byte, i int) ([]byte, int) {
	n := int(b[i])
	i++
	if n == 255 {
		n = int(b[i]) | int(b[i+1])<<8 | int(b[i+2])<<16
		i += 3
	}
	return b[i : i+n], i + n
}

// appendLabelsPBRange is appendLabelsPB for the other labels implementations.
func appendLabelsPBRange(dst []byte, ls labels.Labels, ext []prompb.Label) []byte {
	j := 0
	ls.Range(func(l labels.Label) {
		for j < len(ext) && ext[j].Name < l.Name {
			dst = appendLabelPB(dst, ext[j].Name, ext[j].Value)
			j++
		}
		if j < len(ext) && ext[j].Name == l.Name {
			j++
		}
		dst = appendLabelPB(dst, l.Name, l.Value)
	})
	for _, l := range ext[j:] {
		dst = appendLabelPB(dst, l.Name, l.Value)
	}
	return dst
}

func appendLabelPB[S string | []byte](dst []byte, name, value S) []byte {
	if n, v := len(name), len(value); n > 0 && v > 0 && n+v+4 < 128 {
		// The common case: every length fits a one-byte varint.
		dst = append(dst, keyLabel, byte(n+v+4), keyName, byte(n))
		dst = append(dst, name...)
		dst = append(dst, keyValue, byte(v))
		return append(dst, value...)
	}
	size := 0
	if len(name) > 0 {
		size += 1 + uvarintLen(uint64(len(name))) + len(name)
	}
	if len(value) > 0 {
		size += 1 + uvarintLen(uint64(len(value))) + len(value)
	}
	dst = append(dst, keyLabel)
	dst = binary.AppendUvarint(dst, uint64(size))
	if len(name) > 0 {
		dst = append(dst, keyName)
		dst = binary.AppendUvarint(dst, uint64(len(name)))
		dst = append(dst, name...)
	}
	if len(value) > 0 {
		dst = append(dst, keyValue)
		dst = binary.AppendUvarint(dst, uint64(len(value)))
		dst = append(dst, value...)
	}
	return dst
}

// uvarintLen is the length of x as a protobuf varint.
func uvarintLen(x uint64) int {
	return (bits.Len64(x|1) + 6) / 7
}
