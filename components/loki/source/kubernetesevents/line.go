package kubernetesevents

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
)

// eventTime is when an event last happened: its series' last observation, else its
// lastTimestamp (core/v1 recorders), else its eventTime (events.k8s.io/v1 recorders), else
// its firstTimestamp, else when it was created.
func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	default:
		return ev.CreationTimestamp.Time
	}
}

// eventCount is how many times the event happened: its series' count for events.k8s.io
// recorders, else its count.
func eventCount(ev *corev1.Event) int32 {
	if ev.Series != nil && ev.Series.Count > 0 {
		return ev.Series.Count
	}
	return ev.Count
}

// field is one key of a line.
type field struct {
	key    string
	value  string
	number bool // count: a JSON number
}

// fields returns the keys of an event's line in the order (and with the names) of Alloy's
// loki.source.kubernetes_events, so that LogQL queries written for it keep working; empty
// values are left out, msg never is.
func fields(ev *corev1.Event) []field {
	obj := ev.InvolvedObject
	out := make([]field, 0, 14)
	add := func(k, v string) {
		if v != "" {
			out = append(out, field{key: k, value: v})
		}
	}
	add("name", obj.Name)
	add("kind", obj.Kind)
	add("action", ev.Action)
	add("objectAPIversion", obj.APIVersion)
	add("objectRV", obj.ResourceVersion)
	add("eventRV", ev.ResourceVersion)
	add("reportinginstance", ev.ReportingInstance)
	add("reportingcontroller", ev.ReportingController)
	add("sourcecomponent", ev.Source.Component)
	add("sourcehost", ev.Source.Host)
	add("reason", ev.Reason)
	add("type", ev.Type)
	if n := eventCount(ev); n != 0 {
		out = append(out, field{key: "count", value: strconv.FormatInt(int64(n), 10), number: true})
	}
	out = append(out, field{key: "msg", value: ev.Message})
	return out
}

// formatLine renders an event as one line in format (FormatLogfmt or FormatJSON).
func formatLine(ev *corev1.Event, format string) string {
	fs := fields(ev)
	if format == FormatJSON {
		m := make(map[string]any, len(fs))
		for _, f := range fs {
			if f.number {
				n, _ := strconv.ParseInt(f.value, 10, 64)
				m[f.key] = n
			} else {
				m[f.key] = f.value
			}
		}
		b, _ := json.Marshal(m) // strings and numbers only: cannot fail
		return string(b)
	}
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.key)
		b.WriteByte('=')
		if f.key == "msg" || needsQuote(f.value) {
			// msg is always quoted, as Alloy does.
			b.WriteString(strconv.Quote(f.value))
		} else {
			b.WriteString(f.value)
		}
	}
	return b.String()
}

// needsQuote reports whether a logfmt value must be quoted: empty, or holding a space, '=',
// '"', a control character or invalid UTF-8.
func needsQuote(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == ' ' || r == '=' || r == '"' || r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return true
		}
	}
	return false
}

// labelsFor returns the stream labels of the events of one involved object's namespace:
// job, instance and namespace (none for cluster-scoped objects such as nodes), as Alloy's.
func labelsFor(job, instance, namespace string) model.LabelSet {
	ls := model.LabelSet{"job": model.LabelValue(job), "instance": model.LabelValue(instance)}
	if namespace != "" {
		ls["namespace"] = model.LabelValue(namespace)
	}
	return ls
}
