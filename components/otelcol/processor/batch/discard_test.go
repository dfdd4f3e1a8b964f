package batch

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// discardSink takes everything and keeps nothing (benchmarks).
type discardSink struct{}

// register makes d the component "discard" of h.
func (d *discardSink) register(h *pipelinetest.Host) { h.Export("discard", d) }

// Run implements pipeline.Component: there is nothing to run.
func (d *discardSink) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (d *discardSink) Traces() consumer.Traces {
	c, _ := consumer.NewTraces(func(context.Context, ptrace.Traces) error { return nil })
	return c
}

func (d *discardSink) Metrics() consumer.Metrics {
	c, _ := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return nil })
	return c
}

func (d *discardSink) Logs() consumer.Logs {
	c, _ := consumer.NewLogs(func(context.Context, plog.Logs) error { return nil })
	return c
}
