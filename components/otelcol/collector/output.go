package collector

import "github.com/sondehq/sonde/pipeline"

// Output names the components that receive each signal, by id.
//
//	output:
//	  traces: [otelcol.processor.batch/default]
//	  metrics: [otelcol.exporter.prometheus/default]
//	  logs: [otelcol.exporter.loki/default]
type Output struct {
	Traces  []string `yaml:"traces,omitempty"`
	Metrics []string `yaml:"metrics,omitempty"`
	Logs    []string `yaml:"logs,omitempty"`
}

// Empty reports whether no signal goes anywhere.
func (o Output) Empty() bool { return len(o.Traces)+len(o.Metrics)+len(o.Logs) == 0 }

// References returns the edges of the output block found at YAML path field.
func (o Output) References(field string) []pipeline.Reference {
	var out []pipeline.Reference
	if len(o.Traces) > 0 {
		out = append(out, pipeline.Reference{Field: field + ".traces", Kind: pipeline.KindOTLPTraces, IDs: o.Traces})
	}
	if len(o.Metrics) > 0 {
		out = append(out, pipeline.Reference{Field: field + ".metrics", Kind: pipeline.KindOTLPMetrics, IDs: o.Metrics})
	}
	if len(o.Logs) > 0 {
		out = append(out, pipeline.Reference{Field: field + ".logs", Kind: pipeline.KindOTLPLogs, IDs: o.Logs})
	}
	return out
}
