// Package memorylimiter implements otelcol.processor.memory_limiter: while the Go heap is
// above its soft limit, it refuses data with gRPC RESOURCE_EXHAUSTED and a RetryInfo
// delay, which otelcol.receiver.otlp passes to senders as is (HTTP: 429 with Retry-After),
// so that they back off and send again instead of sonde growing until it is killed.
//
// It is written here because the collector's memorylimiterprocessor module is not among
// the modules this project can use (its internal memorylimiter package is not published
// at v0.162). It follows the same rules: measure the heap every check_interval, refuse
// above limit - spike_limit, force a garbage collection above limit.
package memorylimiter

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer"
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

// Registration declares otelcol.processor.memory_limiter.
var Registration = pipeline.Register("otelcol.processor.memory_limiter", DefaultArguments, New,
	pipeline.KindOTLPTraces, pipeline.KindOTLPMetrics, pipeline.KindOTLPLogs)

// minGCInterval bounds how often a garbage collection is forced.
const minGCInterval = 10 * time.Second

// Component is a running otelcol.processor.memory_limiter.
type Component struct {
	opts    pipeline.Options
	metrics *metrics
	// readHeap and total are the memory readings; tests replace them.
	readHeap func() uint64
	total    uint64

	refusing atomic.Bool
	cfg      *pipeline.Latest[*settings] // Update stores; Run checks again on Changed
	lastGC   time.Time                   // Run's

	tc consumer.Traces
	mc consumer.Metrics
	lc consumer.Logs
}

// settings are what the arguments come to.
type settings struct {
	hard, soft uint64
	interval   time.Duration
	refusal    error
	next       otelcol.Consumers
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds the component; the heap is measured by Run.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts, readHeap: heapBytes, total: totalMemory()}
	s, err := c.settings(args)
	if err != nil {
		return nil, err
	}
	c.cfg = pipeline.NewLatest(s)
	c.metrics = newMetrics(opts.Registerer, c)
	c.tc, _ = consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		next, err := c.admit()
		if err != nil {
			c.metrics.refused.WithLabelValues("traces").Add(float64(td.SpanCount()))
			return err
		}
		return next.Traces.ConsumeTraces(ctx, td)
	})
	c.mc, _ = consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		next, err := c.admit()
		if err != nil {
			c.metrics.refused.WithLabelValues("metrics").Add(float64(md.DataPointCount()))
			return err
		}
		return next.Metrics.ConsumeMetrics(ctx, md)
	})
	c.lc, _ = consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		next, err := c.admit()
		if err != nil {
			c.metrics.refused.WithLabelValues("logs").Add(float64(ld.LogRecordCount()))
			return err
		}
		return next.Logs.ConsumeLogs(ctx, ld)
	})
	c.logLimits(s)
	return c, nil
}

// admit returns the next consumers, or the refusal while over the soft limit.
func (c *Component) admit() (otelcol.Consumers, error) {
	s := c.cfg.Load()
	if c.refusing.Load() {
		return s.next, s.refusal
	}
	return s.next, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	s, err := c.settings(args)
	if err != nil {
		return err
	}
	c.cfg.Store(s)
	c.logLimits(s)
	return nil
}

// settings works out the limits, the refusal and the outputs of args.
func (c *Component) settings(a *Arguments) (*settings, error) {
	hard, soft, err := a.limits(c.total)
	if err != nil {
		return nil, err
	}
	st, err := status.New(codes.ResourceExhausted, fmt.Sprintf("%s: memory usage is above its limit; retry later", c.opts.ID)).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(a.RetryAfter))})
	if err != nil {
		return nil, err
	}
	return &settings{
		hard: hard, soft: soft, interval: time.Duration(a.CheckInterval), refusal: st.Err(),
		next: a.Output.Consumers(c.opts.Host, c.opts.ID),
	}, nil
}

func (c *Component) logLimits(s *settings) {
	c.opts.Logger.Info("memory limits set", "limit_bytes", s.hard, "soft_limit_bytes", s.soft)
}

// Run measures the heap every check_interval until ctx ends.
func (c *Component) Run(ctx context.Context) error {
	for {
		c.check()
		t := time.NewTimer(c.cfg.Load().interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-c.cfg.Changed():
			t.Stop()
		case <-t.C:
		}
	}
}

// check measures the heap and decides whether to refuse; above the hard limit it forces a
// garbage collection first (at most every minGCInterval) and measures again.
func (c *Component) check() {
	cfg := c.cfg.Load()
	hard, soft := cfg.hard, cfg.soft
	heap := c.readHeap()
	if heap > hard && time.Since(c.lastGC) >= minGCInterval {
		c.lastGC = time.Now()
		runtime.GC()
		c.metrics.gcs.Inc()
		heap = c.readHeap()
	}
	c.metrics.heap.Set(float64(heap))
	refuse := heap > soft
	if was := c.refusing.Swap(refuse); was != refuse {
		if refuse {
			c.opts.Logger.Warn("memory usage above the soft limit; refusing data", "heap_bytes", heap, "soft_limit_bytes", soft)
		} else {
			c.opts.Logger.Info("memory usage back below the soft limit; accepting data", "heap_bytes", heap, "soft_limit_bytes", soft)
		}
	}
}

// Traces implements pipeline.OTLPTracesReceiver.
func (c *Component) Traces() consumer.Traces { return c.tc }

// Metrics implements pipeline.OTLPMetricsReceiver.
func (c *Component) Metrics() consumer.Metrics { return c.mc }

// Logs implements pipeline.OTLPLogsReceiver.
func (c *Component) Logs() consumer.Logs { return c.lc }
