package write

import (
	"fmt"
	"strings"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sondehq/sonde/pipeline"
)

// encoder builds push requests: entries grouped into streams by their label string, in
// the order they were added, so the entries of a stream keep their order. Its buffers are
// reused from request to request, so a steady flow allocates nothing per entry.
type encoder struct {
	req     push.PushRequest
	index   map[string]int      // stream label string → index in req.Streams
	sm      []push.LabelAdapter // structured metadata of every entry, sliced per entry
	raw     []byte              // protobuf
	out     []byte              // snappy
	entries int
	bytes   int // line and metadata bytes, the unit of batch_size

	// idle is how long the buffers may stay larger than the requests need; bufFor is the
	// largest request (bytes) they were grown for since they were last let go, and largeAt
	// when a request last needed more than half of that.
	idle    time.Duration
	bufFor  int
	largeAt time.Time
}

// defaultBufferIdle is how long an encoder keeps buffers its requests no longer need.
const defaultBufferIdle = time.Minute

// minBufferRelease is the request size (bytes) below which the buffers are always kept.
const minBufferRelease = 64 << 10

func newEncoder() *encoder { return &encoder{index: map[string]int{}, idle: defaultBufferIdle} }

// reset empties the request, keeping the buffers, unless no request has needed more than
// half of them for idle: while Loki is down the queue fills and every request is
// batch_size, afterwards they are small again, and the memory of the backlog is given back
// instead of being held for good.
func (e *encoder) reset() {
	if e.bufFor >= minBufferRelease && time.Since(e.largeAt) >= e.idle {
		*e = encoder{index: map[string]int{}, idle: e.idle}
		return
	}
	for i := range e.req.Streams {
		clear(e.req.Streams[i].Entries) // let the lines go
		e.req.Streams[i].Entries = e.req.Streams[i].Entries[:0]
	}
	e.req.Streams = e.req.Streams[:0]
	clear(e.index)
	clear(e.sm)
	e.sm = e.sm[:0]
	e.entries, e.bytes = 0, 0
}

// entrySize is what an entry counts for in batch_size and queue capacity.
func entrySize(en *pipeline.LogEntry) int {
	n := len(en.Line)
	en.StructuredMetadata.Range(func(l labels.Label) { n += len(l.Name) + len(l.Value) })
	return n
}

// add appends en to the stream named by labels (a Loki label string, `{a="b"}`).
func (e *encoder) add(streamLabels string, en *pipeline.LogEntry) {
	i, ok := e.index[streamLabels]
	if !ok {
		i = len(e.req.Streams)
		if i < cap(e.req.Streams) {
			e.req.Streams = e.req.Streams[:i+1]
			e.req.Streams[i].Labels = streamLabels
		} else {
			e.req.Streams = append(e.req.Streams, push.Stream{Labels: streamLabels})
		}
		e.index[streamLabels] = i
	}
	pe := push.Entry{Timestamp: en.Timestamp, Line: en.Line}
	if !en.StructuredMetadata.IsEmpty() {
		start := len(e.sm)
		en.StructuredMetadata.Range(func(l labels.Label) {
			e.sm = append(e.sm, push.LabelAdapter{Name: l.Name, Value: l.Value})
		})
		pe.StructuredMetadata = e.sm[start:len(e.sm):len(e.sm)]
	}
	s := &e.req.Streams[i]
	s.Entries = append(s.Entries, pe)
	e.entries++
	e.bytes += entrySize(en)
}

// streamEntries returns the number of entries of the request's stream whose label string
// msg holds (the longest such, should one label string hold another): how a Loki message
// about one stream is counted.
func (e *encoder) streamEntries(msg string) (int, bool) {
	n, best := 0, -1
	for i := range e.req.Streams {
		if l := e.req.Streams[i].Labels; len(l) > best && strings.Contains(msg, l) {
			n, best = len(e.req.Streams[i].Entries), len(l)
		}
	}
	return n, best >= 0
}

// encode returns the snappy-compressed protobuf of the request. The result is valid until
// the next call.
func (e *encoder) encode() ([]byte, error) {
	if e.bytes*2 > e.bufFor {
		e.largeAt = time.Now()
	}
	e.bufFor = max(e.bufFor, e.bytes)
	size := e.req.Size()
	if cap(e.raw) < size {
		e.raw = make([]byte, size)
	}
	e.raw = e.raw[:size]
	n, err := e.req.MarshalToSizedBuffer(e.raw)
	if err != nil {
		return nil, fmt.Errorf("marshal push request: %w", err)
	}
	// s2.EncodeSnappy writes the Snappy block format Loki expects, about twice as fast as
	// klauspost's snappy.Encode (which is s2's slower "better" mode) for ~6% larger output.
	e.out = s2.EncodeSnappy(e.out[:cap(e.out)], e.raw[size-n:])
	return e.out, nil
}
