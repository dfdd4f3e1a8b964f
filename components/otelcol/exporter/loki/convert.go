package loki

import (
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sondehq/sonde/pipeline"
)

// convert maps OTLP log records to entries; records are never dropped (a record without
// time gets its observed time, or now).
func convert(ld plog.Logs, labelAttrs map[string]bool, now time.Time) []pipeline.LogEntry {
	out := make([]pipeline.LogEntry, 0, ld.LogRecordCount())
	sb := labels.NewScratchBuilder(16)
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		res := rl.Resource().Attributes()
		streamLabels := model.LabelSet{}
		var resMeta []labelPair
		res.Range(func(k string, v pcommon.Value) bool {
			if labelAttrs[k] {
				streamLabels[model.LabelName(labelName(k))] = model.LabelValue(v.AsString())
			} else {
				resMeta = append(resMeta, labelPair{labelName(k), v.AsString()})
			}
			return true
		})
		if _, ok := streamLabels["service_name"]; !ok && labelAttrs["service.name"] {
			streamLabels["service_name"] = "unknown_service" // what Loki's OTLP endpoint does
		}
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			scope := sl.Scope().Name()
			for k := 0; k < sl.LogRecords().Len(); k++ {
				lr := sl.LogRecords().At(k)
				sb.Reset()
				for _, p := range resMeta {
					sb.Add(p.name, p.value)
				}
				lr.Attributes().Range(func(k string, v pcommon.Value) bool {
					sb.Add(labelName(k), v.AsString())
					return true
				})
				if scope != "" {
					sb.Add("scope_name", scope)
				}
				if s := lr.SeverityText(); s != "" {
					sb.Add("severity_text", s)
				}
				if n := lr.SeverityNumber(); n != plog.SeverityNumberUnspecified {
					sb.Add("severity_number", n.String())
				}
				if id := lr.TraceID(); !id.IsEmpty() {
					sb.Add("trace_id", id.String())
				}
				if id := lr.SpanID(); !id.IsEmpty() {
					sb.Add("span_id", id.String())
				}
				sb.Sort()
				out = append(out, pipeline.LogEntry{
					Labels:             streamLabels,
					Timestamp:          timestamp(lr, now),
					Line:               lr.Body().AsString(),
					StructuredMetadata: dedup(sb.Labels()),
				})
			}
		}
	}
	return out
}

type labelPair struct{ name, value string }

// labelName turns an attribute name into a Prometheus/Loki label name, as Loki's OTLP
// endpoint does: every character other than a letter, digit or '_' becomes '_', and a
// leading digit gets a '_' prefix.
func labelName(k string) string {
	b := []byte(k)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// dedup keeps the first of labels with the same name (a record attribute named like a
// resource attribute after sanitising).
func dedup(ls labels.Labels) labels.Labels {
	dup := false
	prev := ""
	ls.Range(func(l labels.Label) {
		if l.Name == prev {
			dup = true
		}
		prev = l.Name
	})
	if !dup {
		return ls
	}
	b := labels.NewBuilder(labels.EmptyLabels())
	ls.Range(func(l labels.Label) {
		if b.Get(l.Name) == "" {
			b.Set(l.Name, l.Value)
		}
	})
	return b.Labels()
}

func timestamp(lr plog.LogRecord, now time.Time) time.Time {
	if ts := lr.Timestamp(); ts != 0 {
		return ts.AsTime()
	}
	if ts := lr.ObservedTimestamp(); ts != 0 {
		return ts.AsTime()
	}
	return now
}

func labelSet(attrs []string) map[string]bool {
	m := make(map[string]bool, len(attrs))
	for _, a := range attrs {
		m[strings.TrimSpace(a)] = true
	}
	return m
}
