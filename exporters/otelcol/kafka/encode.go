package kafka

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"slices"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// encodings and compressions are the accepted names.
var (
	encodings    = map[string]struct{}{"otlp_proto": {}, "otlp_json": {}}
	compressions = map[string]struct{}{"none": {}, "gzip": {}, "snappy": {}, "lz4": {}, "zstd": {}}
)

// keyed is a part of a request and the key of the message(s) it becomes.
type keyed[T any] struct {
	data T
	key  []byte
}

// codec is what writing one signal to Kafka needs: how to encode it, count its items, split
// it in two, and cut a request into keyed parts.
type codec[T any] struct {
	signal  string
	marshal func(T) ([]byte, error)
	// size returns the encoded size without encoding, or -1 when only encoding tells.
	size  func(T) int
	items func(T) int
	// split cuts data in two halves (by resource, else by scope, else by item); false when
	// it holds a single item.
	split func(T) (T, T, bool)
	// appendTo appends src's resources (copied) to dst.
	appendTo func(dst, src T)
	empty    func() T
	// parts cuts a request into the parts that get their own key.
	parts func(T) []keyed[T]
	// byTopic groups a request's resources by the topic their attribute attr names (def
	// when they have none).
	byTopic func(data T, attr, def string) []topicPart[T]
	// retryErr carries the data left to retry (consumererror.NewTraces…).
	retryErr func(error, T) error
}

// topicPart is the part of a request that goes to one topic.
type topicPart[T any] struct {
	topic string
	data  T
}

// message is one Kafka record's topic, key and value and the data it carries.
type message[T any] struct {
	topic      string
	key, value []byte
	data       T
	items      int
}

// encode appends the messages that carry data under key to out, splitting it until every
// message fits max bytes; it returns the items that could not fit even alone.
func (c *codec[T]) encode(data T, key []byte, limit int, out []message[T]) ([]message[T], int, error) {
	n := c.items(data)
	if n == 0 {
		return out, 0, nil
	}
	if c.size == nil || c.size(data)+len(key) <= limit {
		b, err := c.marshal(data)
		if err != nil {
			return out, 0, consumererror.NewPermanent(err)
		}
		if len(b)+len(key) <= limit {
			return append(out, message[T]{key: key, value: b, data: data, items: n}), 0, nil // topic set by the caller
		}
	}
	a, b, ok := c.split(data)
	if !ok {
		return out, n, nil
	}
	out, tooLargeA, err := c.encode(a, key, limit, out)
	if err != nil {
		return out, 0, err
	}
	out, tooLargeB, err := c.encode(b, key, limit, out)
	return out, tooLargeA + tooLargeB, err
}

// merge returns the data of msgs as one request.
func (c *codec[T]) merge(msgs []*message[T]) T {
	if len(msgs) == 1 {
		return msgs[0].data
	}
	out := c.empty()
	for _, m := range msgs {
		c.appendTo(out, m.data)
	}
	return out
}

// halves copies the first half of src to a and the rest to b.
func halves[E interface{ CopyTo(E) }, S interface {
	Len() int
	At(int) E
	AppendEmpty() E
}](src, a, b S) {
	h := src.Len() / 2
	for i := range src.Len() {
		dst := a
		if i >= h {
			dst = b
		}
		src.At(i).CopyTo(dst.AppendEmpty())
	}
}

// appendCopies copies every element of src to the end of dst.
func appendCopies[E interface{ CopyTo(E) }, S interface {
	Len() int
	At(int) E
	AppendEmpty() E
}](src, dst S) {
	for i := range src.Len() {
		src.At(i).CopyTo(dst.AppendEmpty())
	}
}

func whole[T any](data T) []keyed[T] { return []keyed[T]{{data: data}} }

// groupByTopic groups the resources of data by the value of their attribute attr (def when
// they have none or it is empty), in the order each topic first appears; data itself when
// all go to one topic.
func groupByTopic[T any, E interface {
	CopyTo(E)
	Resource() pcommon.Resource
}, S interface {
	Len() int
	At(int) E
	AppendEmpty() E
}](data T, resources func(T) S, empty func() T, attr, def string) []topicPart[T] {
	rs := resources(data)
	topicOf := func(i int) string {
		if v, ok := rs.At(i).Resource().Attributes().Get(attr); ok && v.AsString() != "" {
			return v.AsString()
		}
		return def
	}
	single := true
	for i := 1; i < rs.Len() && single; i++ {
		single = topicOf(i) == topicOf(0)
	}
	if single {
		if rs.Len() == 0 {
			return nil
		}
		return []topicPart[T]{{topic: topicOf(0), data: data}}
	}
	var out []topicPart[T]
	index := map[string]int{}
	for i := range rs.Len() {
		t := topicOf(i)
		j, ok := index[t]
		if !ok {
			j = len(out)
			index[t] = j
			out = append(out, topicPart[T]{topic: t, data: empty()})
		}
		rs.At(i).CopyTo(resources(out[j].data).AppendEmpty())
	}
	return out
}

// tracesCodec writes spans with encoding; byTraceID keys each message with its trace id.
func tracesCodec(encoding string, byTraceID bool) *codec[ptrace.Traces] {
	c := &codec[ptrace.Traces]{
		signal:   "traces",
		items:    ptrace.Traces.SpanCount,
		split:    splitTraces,
		empty:    ptrace.NewTraces,
		appendTo: func(dst, src ptrace.Traces) { appendCopies(src.ResourceSpans(), dst.ResourceSpans()) },
		parts:    whole[ptrace.Traces],
		retryErr: func(err error, td ptrace.Traces) error { return consumererror.NewTraces(err, td) },
		byTopic: func(td ptrace.Traces, attr, def string) []topicPart[ptrace.Traces] {
			return groupByTopic(td, ptrace.Traces.ResourceSpans, ptrace.NewTraces, attr, def)
		},
	}
	if encoding == "otlp_json" {
		m := &ptrace.JSONMarshaler{}
		c.marshal, c.size = m.MarshalTraces, func(ptrace.Traces) int { return -1 }
	} else {
		m := &ptrace.ProtoMarshaler{}
		c.marshal, c.size = m.MarshalTraces, m.TracesSize
	}
	if byTraceID {
		c.parts = byTrace
	}
	return c
}

func metricsCodec(encoding string, byResource bool) *codec[pmetric.Metrics] {
	c := &codec[pmetric.Metrics]{
		signal:   "metrics",
		items:    pmetric.Metrics.DataPointCount,
		split:    splitMetrics,
		empty:    pmetric.NewMetrics,
		appendTo: func(dst, src pmetric.Metrics) { appendCopies(src.ResourceMetrics(), dst.ResourceMetrics()) },
		parts:    whole[pmetric.Metrics],
		retryErr: func(err error, md pmetric.Metrics) error { return consumererror.NewMetrics(err, md) },
		byTopic: func(md pmetric.Metrics, attr, def string) []topicPart[pmetric.Metrics] {
			return groupByTopic(md, pmetric.Metrics.ResourceMetrics, pmetric.NewMetrics, attr, def)
		},
	}
	if encoding == "otlp_json" {
		m := &pmetric.JSONMarshaler{}
		c.marshal, c.size = m.MarshalMetrics, func(pmetric.Metrics) int { return -1 }
	} else {
		m := &pmetric.ProtoMarshaler{}
		c.marshal, c.size = m.MarshalMetrics, m.MetricsSize
	}
	if byResource {
		c.parts = func(md pmetric.Metrics) []keyed[pmetric.Metrics] {
			rms := md.ResourceMetrics()
			if rms.Len() == 1 {
				return []keyed[pmetric.Metrics]{{data: md, key: resourceKey(rms.At(0).Resource())}}
			}
			out := make([]keyed[pmetric.Metrics], rms.Len())
			for i := range rms.Len() {
				one := pmetric.NewMetrics()
				rms.At(i).CopyTo(one.ResourceMetrics().AppendEmpty())
				out[i] = keyed[pmetric.Metrics]{data: one, key: resourceKey(rms.At(i).Resource())}
			}
			return out
		}
	}
	return c
}

func logsCodec(encoding string, byResource bool) *codec[plog.Logs] {
	c := &codec[plog.Logs]{
		signal:   "logs",
		items:    plog.Logs.LogRecordCount,
		split:    splitLogs,
		empty:    plog.NewLogs,
		appendTo: func(dst, src plog.Logs) { appendCopies(src.ResourceLogs(), dst.ResourceLogs()) },
		parts:    whole[plog.Logs],
		retryErr: func(err error, ld plog.Logs) error { return consumererror.NewLogs(err, ld) },
		byTopic: func(ld plog.Logs, attr, def string) []topicPart[plog.Logs] {
			return groupByTopic(ld, plog.Logs.ResourceLogs, plog.NewLogs, attr, def)
		},
	}
	if encoding == "otlp_json" {
		m := &plog.JSONMarshaler{}
		c.marshal, c.size = m.MarshalLogs, func(plog.Logs) int { return -1 }
	} else {
		m := &plog.ProtoMarshaler{}
		c.marshal, c.size = m.MarshalLogs, m.LogsSize
	}
	if byResource {
		c.parts = func(ld plog.Logs) []keyed[plog.Logs] {
			rls := ld.ResourceLogs()
			if rls.Len() == 1 {
				return []keyed[plog.Logs]{{data: ld, key: resourceKey(rls.At(0).Resource())}}
			}
			out := make([]keyed[plog.Logs], rls.Len())
			for i := range rls.Len() {
				one := plog.NewLogs()
				rls.At(i).CopyTo(one.ResourceLogs().AppendEmpty())
				out[i] = keyed[plog.Logs]{data: one, key: resourceKey(rls.At(i).Resource())}
			}
			return out
		}
	}
	return c
}

// byTrace cuts td into one part per trace id, keyed with the id in hex (as the
// kafkaexporter does); the resources and scopes of the spans are kept.
func byTrace(td ptrace.Traces) []keyed[ptrace.Traces] {
	type dest struct {
		td     ptrace.Traces
		rs     ptrace.ResourceSpans
		ss     ptrace.ScopeSpans
		ri, si int
	}
	var (
		dests = map[pcommon.TraceID]*dest{}
		order []pcommon.TraceID
	)
	rss := td.ResourceSpans()
	if id, ok := singleTrace(td); ok {
		return []keyed[ptrace.Traces]{{data: td, key: traceKey(id)}}
	}
	for ri := range rss.Len() {
		rs := rss.At(ri)
		sss := rs.ScopeSpans()
		for si := range sss.Len() {
			ss := sss.At(si)
			spans := ss.Spans()
			for i := range spans.Len() {
				sp := spans.At(i)
				d := dests[sp.TraceID()]
				if d == nil {
					d = &dest{td: ptrace.NewTraces(), ri: -1}
					dests[sp.TraceID()] = d
					order = append(order, sp.TraceID())
				}
				if d.ri != ri {
					d.rs = d.td.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(d.rs.Resource())
					d.rs.SetSchemaUrl(rs.SchemaUrl())
					d.ri, d.si = ri, -1
				}
				if d.si != si {
					d.ss = d.rs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(d.ss.Scope())
					d.ss.SetSchemaUrl(ss.SchemaUrl())
					d.si = si
				}
				sp.CopyTo(d.ss.Spans().AppendEmpty())
			}
		}
	}
	out := make([]keyed[ptrace.Traces], len(order))
	for i, id := range order {
		out[i] = keyed[ptrace.Traces]{data: dests[id].td, key: traceKey(id)}
	}
	return out
}

// singleTrace tells whether every span of td belongs to one trace, and which.
func singleTrace(td ptrace.Traces) (pcommon.TraceID, bool) {
	var (
		id   pcommon.TraceID
		seen bool
	)
	rss := td.ResourceSpans()
	for ri := range rss.Len() {
		sss := rss.At(ri).ScopeSpans()
		for si := range sss.Len() {
			spans := sss.At(si).Spans()
			for i := range spans.Len() {
				switch t := spans.At(i).TraceID(); {
				case !seen:
					id, seen = t, true
				case t != id:
					return id, false
				}
			}
		}
	}
	return id, true
}

func traceKey(id pcommon.TraceID) []byte {
	out := make([]byte, hex.EncodedLen(len(id)))
	hex.Encode(out, id[:])
	return out
}

// resourceKey is a 128-bit hash of a resource's attributes, independent of their order.
func resourceKey(r pcommon.Resource) []byte {
	h := fnv.New128a()
	hashMap(h, r.Attributes())
	return h.Sum(nil)
}

type hashWriter interface{ Write([]byte) (int, error) }

func hashMap(h hashWriter, m pcommon.Map) {
	type kv struct {
		k string
		v pcommon.Value
	}
	kvs := make([]kv, 0, m.Len())
	for k, v := range m.All() {
		kvs = append(kvs, kv{k, v})
	}
	slices.SortFunc(kvs, func(a, b kv) int { return cmp.Compare(a.k, b.k) })
	for _, e := range kvs {
		_, _ = h.Write([]byte(e.k))
		_, _ = h.Write([]byte{0})
		hashValue(h, e.v)
	}
}

func hashValue(h hashWriter, v pcommon.Value) {
	var buf [9]byte
	buf[0] = byte(v.Type())
	switch v.Type() {
	case pcommon.ValueTypeMap:
		_, _ = h.Write(buf[:1])
		hashMap(h, v.Map())
	case pcommon.ValueTypeSlice:
		_, _ = h.Write(buf[:1])
		s := v.Slice()
		for i := range s.Len() {
			hashValue(h, s.At(i))
		}
	case pcommon.ValueTypeInt:
		binary.BigEndian.PutUint64(buf[1:], uint64(v.Int()))
		_, _ = h.Write(buf[:])
	case pcommon.ValueTypeDouble:
		binary.BigEndian.PutUint64(buf[1:], math.Float64bits(v.Double()))
		_, _ = h.Write(buf[:])
	case pcommon.ValueTypeBytes:
		_, _ = h.Write(buf[:1])
		_, _ = h.Write(v.Bytes().AsRaw())
	default:
		_, _ = h.Write(buf[:1])
		_, _ = h.Write([]byte(v.AsString()))
	}
	_, _ = h.Write([]byte{0})
}

func splitTraces(td ptrace.Traces) (ptrace.Traces, ptrace.Traces, bool) {
	a, b := ptrace.NewTraces(), ptrace.NewTraces()
	rss := td.ResourceSpans()
	if rss.Len() > 1 {
		halves(rss, a.ResourceSpans(), b.ResourceSpans())
		return a, b, true
	}
	if rss.Len() == 0 {
		return a, b, false
	}
	rs := rss.At(0)
	ra, rb := a.ResourceSpans().AppendEmpty(), b.ResourceSpans().AppendEmpty()
	for _, r := range []ptrace.ResourceSpans{ra, rb} {
		rs.Resource().CopyTo(r.Resource())
		r.SetSchemaUrl(rs.SchemaUrl())
	}
	sss := rs.ScopeSpans()
	if sss.Len() > 1 {
		halves(sss, ra.ScopeSpans(), rb.ScopeSpans())
		return a, b, true
	}
	if sss.Len() == 0 || sss.At(0).Spans().Len() < 2 {
		return a, b, false
	}
	ss := sss.At(0)
	sa, sb := ra.ScopeSpans().AppendEmpty(), rb.ScopeSpans().AppendEmpty()
	for _, s := range []ptrace.ScopeSpans{sa, sb} {
		ss.Scope().CopyTo(s.Scope())
		s.SetSchemaUrl(ss.SchemaUrl())
	}
	halves(ss.Spans(), sa.Spans(), sb.Spans())
	return a, b, true
}

// splitMetrics halves by resource, scope, then metric; a single metric is not split.
func splitMetrics(md pmetric.Metrics) (pmetric.Metrics, pmetric.Metrics, bool) {
	a, b := pmetric.NewMetrics(), pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	if rms.Len() > 1 {
		halves(rms, a.ResourceMetrics(), b.ResourceMetrics())
		return a, b, true
	}
	if rms.Len() == 0 {
		return a, b, false
	}
	rm := rms.At(0)
	ra, rb := a.ResourceMetrics().AppendEmpty(), b.ResourceMetrics().AppendEmpty()
	for _, r := range []pmetric.ResourceMetrics{ra, rb} {
		rm.Resource().CopyTo(r.Resource())
		r.SetSchemaUrl(rm.SchemaUrl())
	}
	sms := rm.ScopeMetrics()
	if sms.Len() > 1 {
		halves(sms, ra.ScopeMetrics(), rb.ScopeMetrics())
		return a, b, true
	}
	if sms.Len() == 0 || sms.At(0).Metrics().Len() < 2 {
		return a, b, false
	}
	sm := sms.At(0)
	sa, sb := ra.ScopeMetrics().AppendEmpty(), rb.ScopeMetrics().AppendEmpty()
	for _, s := range []pmetric.ScopeMetrics{sa, sb} {
		sm.Scope().CopyTo(s.Scope())
		s.SetSchemaUrl(sm.SchemaUrl())
	}
	halves(sm.Metrics(), sa.Metrics(), sb.Metrics())
	return a, b, true
}

func splitLogs(ld plog.Logs) (plog.Logs, plog.Logs, bool) {
	a, b := plog.NewLogs(), plog.NewLogs()
	rls := ld.ResourceLogs()
	if rls.Len() > 1 {
		halves(rls, a.ResourceLogs(), b.ResourceLogs())
		return a, b, true
	}
	if rls.Len() == 0 {
		return a, b, false
	}
	rl := rls.At(0)
	ra, rb := a.ResourceLogs().AppendEmpty(), b.ResourceLogs().AppendEmpty()
	for _, r := range []plog.ResourceLogs{ra, rb} {
		rl.Resource().CopyTo(r.Resource())
		r.SetSchemaUrl(rl.SchemaUrl())
	}
	sls := rl.ScopeLogs()
	if sls.Len() > 1 {
		halves(sls, ra.ScopeLogs(), rb.ScopeLogs())
		return a, b, true
	}
	if sls.Len() == 0 || sls.At(0).LogRecords().Len() < 2 {
		return a, b, false
	}
	sl := sls.At(0)
	sa, sb := ra.ScopeLogs().AppendEmpty(), rb.ScopeLogs().AppendEmpty()
	for _, s := range []plog.ScopeLogs{sa, sb} {
		sl.Scope().CopyTo(s.Scope())
		s.SetSchemaUrl(sl.SchemaUrl())
	}
	halves(sl.LogRecords(), sa.LogRecords(), sb.LogRecords())
	return a, b, true
}
