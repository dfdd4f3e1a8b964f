package otelcol

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/pipeline"
)

// Output names the components that receive each signal, by id.
//
//	output:
//	  traces: [otelcol.processor.batch/default]
//	  metrics: [otelcol.exporter.prometheus/default]
//	  logs: [otelcol.exporter.loki/default]
type Output struct {
	// Traces are the ids of the components that receive traces (they must accept them).
	Traces []string `yaml:"traces,omitempty"`
	// Metrics are the ids of the components that receive metrics.
	Metrics []string `yaml:"metrics,omitempty"`
	// Logs are the ids of the components that receive logs.
	Logs []string `yaml:"logs,omitempty"`
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

// Consumers are what an output block resolves to: one consumer per signal.
type Consumers struct {
	Traces  consumer.Traces
	Metrics consumer.Metrics
	Logs    consumer.Logs
}

// Consumers resolves the output block of component id through host: each signal's
// consumer fans out to the components named for it or, when none is, refuses the data
// with NoOutput.
func (o Output) Consumers(host pipeline.Host, id string) Consumers {
	var cs Consumers
	if len(o.Traces) > 0 {
		cs.Traces = host.OTLPTraces(o.Traces)
	} else {
		cs.Traces, _ = consumer.NewTraces(func(context.Context, ptrace.Traces) error { return NoOutput(id, "traces") })
	}
	if len(o.Metrics) > 0 {
		cs.Metrics = host.OTLPMetrics(o.Metrics)
	} else {
		cs.Metrics, _ = consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return NoOutput(id, "metrics") })
	}
	if len(o.Logs) > 0 {
		cs.Logs = host.OTLPLogs(o.Logs)
	} else {
		cs.Logs, _ = consumer.NewLogs(func(context.Context, plog.Logs) error { return NoOutput(id, "logs") })
	}
	return cs
}

// NoOutput is the answer of component id to data of a signal its output names no
// component for: gRPC UNIMPLEMENTED, which OTLP senders do not retry.
func NoOutput(id, signal string) error {
	return status.Error(codes.Unimplemented, fmt.Sprintf("%s has no %s output", id, signal))
}
