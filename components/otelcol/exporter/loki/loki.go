// Package loki implements otelcol.exporter.loki: it turns OTLP log records into log entries
// (Loki's own OTLP mapping, see Arguments) and hands them to loki.write, waiting for the
// delivery acknowledgement before answering the OTLP sender: a 200 means Loki has the
// records.
package loki

import (
	"context"
	"errors"
	"sync"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.exporter.loki.
var Registration = pipeline.Register("otelcol.exporter.loki", DefaultArguments, New, pipeline.KindOTLPLogs)

// Component is a running otelcol.exporter.loki.
type Component struct {
	opts    pipeline.Options
	metrics *metrics
	lc      consumer.Logs

	mu         sync.Mutex
	next       pipeline.LogsReceiver
	labelAttrs map[string]bool
	ackTimeout time.Duration
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds the component; it converts and hands over in the senders' calls.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts, metrics: newMetrics(opts.Registerer)}
	c.lc, _ = consumer.NewLogs(c.consume)
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(a *Arguments) error {
	attrs := a.LabelAttributes
	if len(attrs) == 0 {
		attrs = DefaultLabelAttributes
	}
	next := c.opts.Host.Logs(a.ForwardTo)
	c.mu.Lock()
	c.next, c.labelAttrs, c.ackTimeout = next, labelSet(attrs), time.Duration(a.AckTimeout)
	c.mu.Unlock()
	return nil
}

// consume converts the records, hands them over, and waits for the acknowledgement.
func (c *Component) consume(ctx context.Context, ld plog.Logs) error {
	c.mu.Lock()
	next, labelAttrs, timeout := c.next, c.labelAttrs, c.ackTimeout
	c.mu.Unlock()
	entries := convert(ld, labelAttrs, time.Now())
	if len(entries) == 0 {
		return nil
	}
	acked := make(chan error, 1)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := next.ConsumeLogs(ctx, pipeline.NewLogBatch(entries, func(err error) { acked <- err })); err != nil {
		c.metrics.refused.Add(float64(len(entries)))
		return status.Error(codes.Unavailable, "loki: "+err.Error()) // not taken: retry
	}
	select {
	case err := <-acked:
		if err != nil {
			// Refused for good by Loki (and counted by loki.write): tell the sender not to
			// send these again.
			c.metrics.rejected.Add(float64(len(entries)))
			return status.Error(codes.InvalidArgument, "loki refused the records: "+err.Error())
		}
		c.metrics.delivered.Add(float64(len(entries)))
		return nil
	case <-ctx.Done():
		// Still on their way: the sender retries, so Loki may get them twice (bounded).
		c.metrics.unacked.Add(float64(len(entries)))
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return status.Error(codes.Unavailable, "loki: delivery not confirmed in time")
		}
		return ctx.Err()
	}
}

// Run waits for ctx to end; the work happens in the senders' calls.
func (c *Component) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Logs implements pipeline.OTLPLogsReceiver.
func (c *Component) Logs() consumer.Logs { return c.lc }

type metrics struct {
	delivered, rejected, refused, unacked promclient.Counter
}

func newMetrics(reg promclient.Registerer) *metrics {
	counter := func(name, help string) promclient.Counter {
		return promclient.NewCounter(promclient.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		delivered: counter("sonde_otelcol_exporter_loki_delivered_total", "Log records Loki acknowledged."),
		rejected:  counter("sonde_otelcol_exporter_loki_rejected_total", "Log records Loki refused for good (the sender was told not to retry)."),
		refused:   counter("sonde_otelcol_exporter_loki_refused_total", "Log records not taken by loki.write (the sender was asked to retry)."),
		unacked:   counter("sonde_otelcol_exporter_loki_unconfirmed_total", "Log records whose delivery was not confirmed within ack_timeout (the sender was asked to retry)."),
	}
	if reg != nil {
		reg.MustRegister(m.delivered, m.rejected, m.refused, m.unacked)
	}
	return m
}
