package otelcol

import "strings"

// SignalOfInstrument returns the signal an instrument of the collector counts, from the
// unit at the end of its name ("otelcol_exporter_sent_spans" → "traces"), or "".
func SignalOfInstrument(name string) string {
	switch {
	case strings.HasSuffix(name, "_spans"):
		return "traces"
	case strings.HasSuffix(name, "_metric_points"):
		return "metrics"
	case strings.HasSuffix(name, "_log_records"):
		return "logs"
	}
	return ""
}

// Signals lists the signals sonde forwards, for the signal label.
var Signals = []string{"traces", "metrics", "logs"}

// InstrumentNames returns the collector's instrument names for prefix and every signal,
// e.g. "otelcol_exporter_sent_" → …_spans, …_metric_points, …_log_records.
func InstrumentNames(prefix string) []string {
	return []string{prefix + "spans", prefix + "metric_points", prefix + "log_records"}
}
