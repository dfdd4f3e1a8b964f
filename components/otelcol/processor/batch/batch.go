// Package batch implements otelcol.processor.batch: it groups spans, metric data points
// and log records into larger requests (fewer, bigger exports), sending a batch when it is
// full or after a timeout. With wait_for_result, senders wait for the next component's
// answer to their batch; without, a batch the next component refuses is held and retried,
// and new data is refused meanwhile, so refusals reach OTLP senders as 429s rather than data
// being lost (see batcher).
package batch

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.processor.batch.
var Registration = pipeline.Register("otelcol.processor.batch", DefaultArguments, New,
	pipeline.KindOTLPTraces, pipeline.KindOTLPMetrics, pipeline.KindOTLPLogs)

// Component is a running otelcol.processor.batch.
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
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds the component; the batches are sent by Run.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
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
	return c, nil
}

// Update implements pipeline.Updater; a pending batch is sent with the new settings.
func (c *Component) Update(a *Arguments) error {
	timeout := time.Duration(a.Timeout)
	next := a.Output.Consumers(c.opts.Host, c.opts.ID)
	c.traces.setConfig(config[ptrace.Traces]{timeout: timeout, size: a.SendBatchSize, maxSize: a.SendBatchMaxSize,
		wait: a.WaitForResult, next: next.Traces.ConsumeTraces, noOutput: len(a.Output.Traces) == 0})
	c.metrics.setConfig(config[pmetric.Metrics]{timeout: timeout, size: a.SendBatchSize, maxSize: a.SendBatchMaxSize,
		wait: a.WaitForResult, next: next.Metrics.ConsumeMetrics, noOutput: len(a.Output.Metrics) == 0})
	c.logs.setConfig(config[plog.Logs]{timeout: timeout, size: a.SendBatchSize, maxSize: a.SendBatchMaxSize,
		wait: a.WaitForResult, next: next.Logs.ConsumeLogs, noOutput: len(a.Output.Logs) == 0})
	return nil
}

// Run sends batches until ctx ends, then sends what is pending; sends end at the flush
// deadline (pipeline.FlushContext), whatever the next component waits for.
func (c *Component) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { c.traces.run(ctx) })
	wg.Go(func() { c.metrics.run(ctx) })
	wg.Go(func() { c.logs.run(ctx) })
	wg.Wait()
	return nil
}

// Traces implements pipeline.OTLPTracesReceiver.
func (c *Component) Traces() consumer.Traces { return c.tc }

// Metrics implements pipeline.OTLPMetricsReceiver.
func (c *Component) Metrics() consumer.Metrics { return c.mc }

// Logs implements pipeline.OTLPLogsReceiver.
func (c *Component) Logs() consumer.Logs { return c.lc }
