package batch

import (
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The collector's own split functions are internal to its batch processor and exporter
// helper; these do the same for spans and log records, and split metrics between metrics.

func splitTraces(src ptrace.Traces, n int) ptrace.Traces {
	dst := ptrace.NewTraces()
	left := n
	src.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		if left == 0 {
			return false
		}
		if c := resourceSpanCount(rs); c <= left {
			left -= c
			rs.MoveTo(dst.ResourceSpans().AppendEmpty())
			return true
		}
		drs := dst.ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(drs.Resource())
		drs.SetSchemaUrl(rs.SchemaUrl())
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			if left == 0 {
				return false
			}
			if c := ss.Spans().Len(); c <= left {
				left -= c
				ss.MoveTo(drs.ScopeSpans().AppendEmpty())
				return true
			}
			dss := drs.ScopeSpans().AppendEmpty()
			ss.Scope().CopyTo(dss.Scope())
			dss.SetSchemaUrl(ss.SchemaUrl())
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				if left == 0 {
					return false
				}
				left--
				sp.MoveTo(dss.Spans().AppendEmpty())
				return true
			})
			return false
		})
		return false
	})
	return dst
}

func resourceSpanCount(rs ptrace.ResourceSpans) int {
	n := 0
	for i := 0; i < rs.ScopeSpans().Len(); i++ {
		n += rs.ScopeSpans().At(i).Spans().Len()
	}
	return n
}

func splitLogs(src plog.Logs, n int) plog.Logs {
	dst := plog.NewLogs()
	left := n
	src.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		if left == 0 {
			return false
		}
		if c := resourceLogCount(rl); c <= left {
			left -= c
			rl.MoveTo(dst.ResourceLogs().AppendEmpty())
			return true
		}
		drl := dst.ResourceLogs().AppendEmpty()
		rl.Resource().CopyTo(drl.Resource())
		drl.SetSchemaUrl(rl.SchemaUrl())
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			if left == 0 {
				return false
			}
			if c := sl.LogRecords().Len(); c <= left {
				left -= c
				sl.MoveTo(drl.ScopeLogs().AppendEmpty())
				return true
			}
			dsl := drl.ScopeLogs().AppendEmpty()
			sl.Scope().CopyTo(dsl.Scope())
			dsl.SetSchemaUrl(sl.SchemaUrl())
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if left == 0 {
					return false
				}
				left--
				lr.MoveTo(dsl.LogRecords().AppendEmpty())
				return true
			})
			return false
		})
		return false
	})
	return dst
}

func resourceLogCount(rl plog.ResourceLogs) int {
	n := 0
	for i := 0; i < rl.ScopeLogs().Len(); i++ {
		n += rl.ScopeLogs().At(i).LogRecords().Len()
	}
	return n
}

// splitMetrics moves whole metrics until about n data points have moved; the first metric
// always moves, however large, so that every call makes progress.
func splitMetrics(src pmetric.Metrics, n int) pmetric.Metrics {
	dst := pmetric.NewMetrics()
	left := n
	moved := false
	src.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		if left <= 0 {
			return false
		}
		drm := dst.ResourceMetrics().AppendEmpty()
		rm.Resource().CopyTo(drm.Resource())
		drm.SetSchemaUrl(rm.SchemaUrl())
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			if left <= 0 {
				return false
			}
			dsm := drm.ScopeMetrics().AppendEmpty()
			sm.Scope().CopyTo(dsm.Scope())
			dsm.SetSchemaUrl(sm.SchemaUrl())
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				c := metricPoints(m)
				if left <= 0 || c > left && moved {
					left = 0
					return false
				}
				left -= c
				moved = true
				m.MoveTo(dsm.Metrics().AppendEmpty())
				return true
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	// Drop the resource and scope copies nothing was moved into.
	dst.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool { return sm.Metrics().Len() == 0 })
		return rm.ScopeMetrics().Len() == 0
	})
	return dst
}

func metricPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
