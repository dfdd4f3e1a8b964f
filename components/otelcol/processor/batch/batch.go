// Package batch implements otelcol.processor.batch: it groups spans, metric data points
// and log records into larger requests (fewer, bigger exports), sending a batch when it is
// full or after a timeout. A batch the next component refuses is held and retried, and new
// data is refused meanwhile, so refusals reach OTLP senders as 429s rather than data being
// lost (see batcher).
package batch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.processor.batch.
var Registration = pipeline.Registration{
	Type:    "otelcol.processor.batch",
	Args:    func() pipeline.Arguments { return NewArguments() },
	Exports: []pipeline.EdgeKind{pipeline.KindOTLPTraces, pipeline.KindOTLPMetrics, pipeline.KindOTLPLogs},
	New: func(opts pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
		return New(opts, args)
	},
}

// Component is a running otelcol.processor.batch; it is its own pipeline.OTLPReceiver.
type Component struct {
	opts    pipeline.Options
	traces  *batcher[ptrace.Traces]
	metrics *batcher[pmetric.Metrics]
	logs    *batcher[plog.Logs]
	tc      consumer.Traces
	mc      consumer.Metrics
	lc      consumer.Logs
}

var (
	_ pipeline.Component    = (*Component)(nil)
	_ pipeline.Updater      = (*Component)(nil)
	_ pipeline.OTLPReceiver = (*Component)(nil)
)

// New builds the component and makes it reachable on its OTLP edges.
func New(opts pipeline.Options, args pipeline.Arguments) (*Component, error) {
	m := newMetrics(opts.Registerer)
	c := &Component{
		opts: opts,
		traces: newBatcher(ops[ptrace.Traces]{
			signal: "traces", empty: ptrace.NewTraces, count: ptrace.Traces.SpanCount,
			moveAll: func(src, dst ptrace.Traces) { src.ResourceSpans().MoveAndAppendTo(dst.ResourceSpans()) },
			split:   splitTraces,
		}, m),
		metrics: newBatcher(ops[pmetric.Metrics]{
			signal: "metrics", empty: pmetric.NewMetrics, count: pmetric.Metrics.DataPointCount,
			moveAll: func(src, dst pmetric.Metrics) { src.ResourceMetrics().MoveAndAppendTo(dst.ResourceMetrics()) },
			split:   splitMetrics,
		}, m),
		logs: newBatcher(ops[plog.Logs]{
			signal: "logs", empty: plog.NewLogs, count: plog.Logs.LogRecordCount,
			moveAll: func(src, dst plog.Logs) { src.ResourceLogs().MoveAndAppendTo(dst.ResourceLogs()) },
			split:   splitLogs,
		}, m),
	}
	c.tc, _ = consumer.NewTraces(c.traces.consume, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	c.mc, _ = consumer.NewMetrics(c.metrics.consume, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	c.lc, _ = consumer.NewLogs(c.logs.consume, consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	if err := c.Update(args); err != nil {
		return nil, err
	}
	pipeline.ExportOTLP(opts, c)
	return c, nil
}

// Update implements pipeline.Updater; a pending batch is sent with the new settings.
func (c *Component) Update(args pipeline.Arguments) error {
	a, ok := args.(*Arguments)
	if !ok || a == nil {
		return fmt.Errorf("otelcol.processor.batch: unexpected arguments type %T", args)
	}
	if err := a.Validate(); err != nil {
		return err
	}
	timeout := time.Duration(a.Timeout)
	host := c.opts.Host
	c.traces.setConfig(config[ptrace.Traces]{timeout: timeout, size: a.SendBatchSize, maxSize: a.SendBatchMaxSize,
		next: nextOf(a.Output.Traces, func() func(context.Context, ptrace.Traces) error {
			return pipeline.OTLPTraces(host, a.Output.Traces).ConsumeTraces
		})})
	c.metrics.setConfig(config[pmetric.Metrics]{timeout: timeout, size: a.SendBatchSize, maxSize: a.SendBatchMaxSize,
		next: nextOf(a.Output.Metrics, func() func(context.Context, pmetric.Metrics) error {
			return pipeline.OTLPMetrics(host, a.Output.Metrics).ConsumeMetrics
		})})
	c.logs.setConfig(config[plog.Logs]{timeout: timeout, size: a.SendBatchSize, maxSize: a.SendBatchMaxSize,
		next: nextOf(a.Output.Logs, func() func(context.Context, plog.Logs) error {
			return pipeline.OTLPLogs(host, a.Output.Logs).ConsumeLogs
		})})
	return nil
}

// nextOf resolves the output of a signal; nil when it has none.
func nextOf[T any](ids []string, resolve func() func(context.Context, T) error) func(context.Context, T) error {
	if len(ids) == 0 {
		return nil
	}
	return resolve()
}

// Run sends batches until ctx ends, then sends what is pending once.
func (c *Component) Run(ctx context.Context) error {
	defer pipeline.ReleaseOTLP(c.opts, c)
	var wg sync.WaitGroup
	wg.Go(func() { c.traces.run(ctx) })
	wg.Go(func() { c.metrics.run(ctx) })
	wg.Go(func() { c.logs.run(ctx) })
	wg.Wait()
	return nil
}

// Traces implements pipeline.OTLPReceiver.
func (c *Component) Traces() consumer.Traces { return c.tc }

// Metrics implements pipeline.OTLPReceiver.
func (c *Component) Metrics() consumer.Metrics { return c.mc }

// Logs implements pipeline.OTLPReceiver.
func (c *Component) Logs() consumer.Logs { return c.lc }
