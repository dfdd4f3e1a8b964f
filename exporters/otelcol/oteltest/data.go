package oteltest

import (
	"encoding/binary"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TraceID returns a trace id made from n (deterministic, never zero).
func TraceID(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], 0x50DE000000000000|n>>32)
	binary.BigEndian.PutUint64(id[8:], n+1)
	return id
}

// SpanID returns a span id made from n (never zero).
func SpanID(n uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], n+1)
	return id
}

// Traces returns one resource (with the given resource attributes) holding spans spans of
// trace TraceID(trace), named "op-<i>", ending now.
func Traces(trace uint64, spans int, resource map[string]string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "sonde-test")
	for k, v := range resource {
		rs.Resource().Attributes().PutStr(k, v)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("sonde-test")
	end := time.Now()
	ss.Spans().EnsureCapacity(spans)
	for i := 0; i < spans; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(TraceID(trace))
		sp.SetSpanID(SpanID(trace<<20 | uint64(i)))
		sp.SetName("op-" + strconv.Itoa(i))
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Duration(i+1) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		sp.Attributes().PutStr("http.route", "/api/items")
		sp.Attributes().PutInt("http.status_code", 200)
	}
	return td
}

// Metrics returns one resource holding a gauge and a monotonic sum, one point each.
func Metrics(resource map[string]string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "sonde-test")
	for k, v := range resource {
		rm.Resource().Attributes().PutStr(k, v)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	now := pcommon.NewTimestampFromTime(time.Now())
	g := sm.Metrics().AppendEmpty()
	g.SetName("queue.depth")
	g.SetUnit("{item}")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(now)
	dp.SetIntValue(7)
	s := sm.Metrics().AppendEmpty()
	s.SetName("http.server.request.duration")
	s.SetUnit("s")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sp := sum.DataPoints().AppendEmpty()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute)))
	sp.SetTimestamp(now)
	sp.SetDoubleValue(1.5)
	sp.Attributes().PutStr("http.route", "/api/items")
	return md
}

// Logs returns one resource holding n log records "line <i>".
func Logs(n int, resource map[string]string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "sonde-test")
	for k, v := range resource {
		rl.Resource().Attributes().PutStr(k, v)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	now := time.Now()
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Microsecond)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr("line " + strconv.Itoa(i))
		lr.Attributes().PutStr("http.route", "/api/items")
	}
	return ld
}
