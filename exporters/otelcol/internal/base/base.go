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

// ShutdownTimeout bounds how long stopping may take: the retries stop, and what is queued
// gets one more attempt each.
const ShutdownTimeout = 30 * time.Second

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

// mapErr turns a full sending queue into RESOURCE_EXHAUSTED with a RetryInfo delay, which
// the OTLP receiver answers as 429 with Retry-After: the sender backs off rather than
// retrying at once (a plain error would be answered 503).
func mapErr(err error) error {
	if err == nil || !errors.Is(err, exporterhelper.ErrQueueIsFull) {
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
// ends; then it refuses new data and shuts the exporters down, which sends what is queued.
func (c *Component) Run(ctx context.Context) error {
	host := &otelcol.Host{Extensions: map[component.ID]component.Component{
		otelcol.ClientID: otelcol.NewClient(c.metrics.countRequest),
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
			return errors.Join(fmt.Errorf("start exporter: %w", err), shutdown(started))
		}
		started = append(started, e)
	}
	c.current.Store(in)
	c.opts.Logger.Info("OTLP exporter started")
	<-ctx.Done()
	c.current.Store(nil)
	return shutdown(started)
}

func shutdown(cs []component.Component) error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
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
