// Package base is what otelcol.exporter.otlp and otelcol.exporter.otlphttp share: running
// one of the collector's exporters (created with its factory, one per signal) behind a
// sonde component, its sending queue and retries, and its metrics.
package base

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Exports are the edge kinds of both OTLP exporters: they accept every signal.
var Exports = []pipeline.EdgeKind{pipeline.KindOTLPTraces, pipeline.KindOTLPMetrics, pipeline.KindOTLPLogs}

// drainPoll is how often a stopping exporter with a memory queue looks whether the queue
// is empty.
const drainPoll = 20 * time.Millisecond

// stopMargin is how long before the flush deadline (at most a tenth of the time left) a
// stopping exporter gives up on what it is still sending.
const stopMargin = 500 * time.Millisecond

// queueFullRetry is the delay a sender is asked to wait when the sending queue is full.
const queueFullRetry = time.Second

// Component runs a collector exporter. It accepts every signal: each goes to the
// collector exporter of that signal.
type Component struct {
	opts    pipeline.Options
	factory exporter.Factory
	cfg     component.Config
	persist bool
	metrics *metrics
	current atomic.Pointer[instance]
	tc      consumer.Traces
	mc      consumer.Metrics
	lc      consumer.Logs
}

var _ pipeline.Component = (*Component)(nil)

// New builds the component for the collector exporter made by factory from cfg; it
// starts nothing. persistent tells whether cfg's queue uses the file storage.
func New(opts pipeline.Options, factory exporter.Factory, cfg component.Config, persistent bool) (*Component, error) {
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	c := &Component{opts: opts, factory: factory, cfg: cfg, persist: persistent, metrics: newMetrics(opts.Registerer, persistent)}
	c.tc, _ = consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		in := c.current.Load()
		if in == nil || in.traces == nil {
			return c.notRunning()
		}
		return mapErr(in.traces.ConsumeTraces(ctx, td))
	})
	c.mc, _ = consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		in := c.current.Load()
		if in == nil || in.metrics == nil {
			return c.notRunning()
		}
		return mapErr(in.metrics.ConsumeMetrics(ctx, md))
	})
	c.lc, _ = consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		in := c.current.Load()
		if in == nil || in.logs == nil {
			return c.notRunning()
		}
		return mapErr(in.logs.ConsumeLogs(ctx, ld))
	})
	return c, nil
}

func (c *Component) notRunning() error { return fmt.Errorf("%s is not running", c.opts.ID) }

// mapErr turns a full sending queue (or a full disk under a persistent one) into
// RESOURCE_EXHAUSTED with a RetryInfo delay, which the OTLP receiver answers as 429 with
// Retry-After: the sender backs off rather than retrying at once (a plain error would be
// answered 503).
func mapErr(err error) error {
	if err == nil || !errors.Is(err, exporterhelper.ErrQueueIsFull) && !errors.Is(err, storage.ErrStorageFull) {
		return err
	}
	st, serr := status.New(codes.ResourceExhausted, err.Error()).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(queueFullRetry)})
	if serr != nil {
		return err
	}
	return st.Err()
}

// instance is one set of started collector exporters.
type instance struct {
	traces  exporter.Traces
	metrics exporter.Metrics
	logs    exporter.Logs
}

func (in *instance) all() []component.Component {
	var out []component.Component
	if in.traces != nil {
		out = append(out, in.traces)
	}
	if in.metrics != nil {
		out = append(out, in.metrics)
	}
	if in.logs != nil {
		out = append(out, in.logs)
	}
	return out
}

// Run starts the exporters (one per signal, each with its own queue) and runs until ctx
// ends; then it refuses new data and stops within the flush deadline
// (pipeline.FlushContext):
//   - a memory queue keeps being sent, retries and the backend's retry delays included,
//     until it is empty or the deadline passes; what is still queued then is dropped and
//     counted (reason shutdown);
//   - a persistent queue stays on disk and is sent after the restart: the exporters are
//     shut down at once, requests under way may finish until the deadline.
//
// At the deadline every request still under way is cancelled, so stopping never takes
// longer than the budget.
func (c *Component) Run(ctx context.Context) error {
	client := otelcol.NewClient(c.metrics.countRequest)
	host := &otelcol.Host{Extensions: map[component.ID]component.Component{
		otelcol.ClientID: client,
	}}
	if c.persist {
		host.Extensions[otelcol.FileStorageID] = otelcol.NewFileStorage(filepath.Join(c.opts.DataPath, "queue"))
	}
	set := exporter.Settings{
		ID:                otelcol.ComponentID(c.factory.Type(), c.opts.ID),
		TelemetrySettings: otelcol.TelemetrySettings(c.opts.Logger, c.metrics.meter),
		BuildInfo:         otelcol.BuildInfo,
	}
	in := &instance{}
	var err error
	if in.traces, err = c.factory.CreateTraces(ctx, set, c.cfg); err != nil {
		return err
	}
	if in.metrics, err = c.factory.CreateMetrics(ctx, set, c.cfg); err != nil {
		return err
	}
	if in.logs, err = c.factory.CreateLogs(ctx, set, c.cfg); err != nil {
		return err
	}
	var started []component.Component
	for _, e := range in.all() {
		if err := e.Start(ctx, host); err != nil {
			fctx, cancel := pipeline.FlushContext(ctx)
			defer cancel()
			return errors.Join(fmt.Errorf("start exporter: %w", err), shutdown(fctx, started))
		}
		started = append(started, e)
	}
	c.current.Store(in)
	c.opts.Logger.Info("OTLP exporter started")
	<-ctx.Done()
	c.current.Store(nil)
	fctx, cancel := pipeline.FlushContext(ctx)
	defer cancel()
	// Give up a little before the deadline, so that shutting down (counting what is
	// dropped, closing the queue's storage) is done by then.
	deadline, _ := fctx.Deadline()
	fctx, cancel = context.WithDeadline(fctx, deadline.Add(-min(stopMargin, time.Until(deadline)/10)))
	defer cancel()
	defer context.AfterFunc(fctx, client.Abort)()
	if !c.persist {
		c.drain(fctx)
	}
	return shutdown(fctx, started)
}

// drain waits until the memory queues are empty (every request sent or given up) or ctx
// ends.
func (c *Component) drain(ctx context.Context) {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		n := c.metrics.queued()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			c.opts.Logger.Warn("flush deadline passed with data still queued; it is dropped", "queued", n)
			return
		case <-t.C:
		}
	}
}

// shutdown shuts the exporters down; requests under way end with ctx (the client aborts
// them), so this returns soon after ctx ends.
func shutdown(ctx context.Context, cs []component.Component) error {
	var errs []error
	for _, e := range cs {
		errs = append(errs, e.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Traces implements pipeline.OTLPTracesReceiver.
func (c *Component) Traces() consumer.Traces { return c.tc }

// Metrics implements pipeline.OTLPMetricsReceiver.
func (c *Component) Metrics() consumer.Metrics { return c.mc }

// Logs implements pipeline.OTLPLogsReceiver.
func (c *Component) Logs() consumer.Logs { return c.lc }
