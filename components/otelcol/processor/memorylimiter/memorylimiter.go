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
	"sync"
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

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.processor.memory_limiter.
var Registration = pipeline.Registration{
	Type:    "otelcol.processor.memory_limiter",
	Args:    func() pipeline.Arguments { return NewArguments() },
	Exports: []pipeline.EdgeKind{pipeline.KindOTLPTraces, pipeline.KindOTLPMetrics, pipeline.KindOTLPLogs},
	New: func(opts pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
		return New(opts, args)
	},
}

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

	mu      sync.Mutex
	cfg     settings
	lastGC  time.Time
	changed chan struct{}

	tc consumer.Traces
	mc consumer.Metrics
	lc consumer.Logs
}

type settings struct {
	hard, soft uint64
	interval   time.Duration
	refusal    error
	traces     consumer.Traces
	metrics    consumer.Metrics
	logs       consumer.Logs
}

var (
	_ pipeline.Component    = (*Component)(nil)
	_ pipeline.Updater      = (*Component)(nil)
	_ pipeline.OTLPReceiver = (*Component)(nil)
)

// New builds the component and makes it reachable on its OTLP edges.
func New(opts pipeline.Options, args pipeline.Arguments) (*Component, error) {
	c := &Component{opts: opts, readHeap: heapBytes, total: totalMemory(), changed: make(chan struct{}, 1)}
	c.metrics = newMetrics(opts.Registerer, c)
	c.tc, _ = consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		next, err := c.admit()
		if err != nil {
			c.metrics.refused.WithLabelValues("traces").Add(float64(td.SpanCount()))
			return err
		}
		return next.traces.ConsumeTraces(ctx, td)
	})
	c.mc, _ = consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		next, err := c.admit()
		if err != nil {
			c.metrics.refused.WithLabelValues("metrics").Add(float64(md.DataPointCount()))
			return err
		}
		return next.metrics.ConsumeMetrics(ctx, md)
	})
	c.lc, _ = consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		next, err := c.admit()
		if err != nil {
			c.metrics.refused.WithLabelValues("logs").Add(float64(ld.LogRecordCount()))
			return err
		}
		return next.logs.ConsumeLogs(ctx, ld)
	})
	if err := c.Update(args); err != nil {
		return nil, err
	}
	pipeline.ExportOTLP(opts, c)
	return c, nil
}

// admit returns the next consumers, or the refusal while over the soft limit.
func (c *Component) admit() (settings, error) {
	c.mu.Lock()
	s := c.cfg
	c.mu.Unlock()
	if c.refusing.Load() {
		return s, s.refusal
	}
	return s, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args pipeline.Arguments) error {
	a, ok := args.(*Arguments)
	if !ok || a == nil {
		return fmt.Errorf("otelcol.processor.memory_limiter: unexpected arguments type %T", args)
	}
	if err := a.Validate(); err != nil {
		return err
	}
	hard, soft, err := a.limits(c.total)
	if err != nil {
		return err
	}
	st, err := status.New(codes.ResourceExhausted, fmt.Sprintf("%s: memory usage is above its limit; retry later", c.opts.ID)).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(a.RetryAfter))})
	if err != nil {
		return err
	}
	s := settings{
		hard: hard, soft: soft, interval: time.Duration(a.CheckInterval), refusal: st.Err(),
		traces:  orRefuse(c.opts.ID, "traces", a.Output.Traces, func() consumer.Traces { return pipeline.OTLPTraces(c.opts.Host, a.Output.Traces) }),
		metrics: orRefuse(c.opts.ID, "metrics", a.Output.Metrics, func() consumer.Metrics { return pipeline.OTLPMetrics(c.opts.Host, a.Output.Metrics) }),
		logs:    orRefuse(c.opts.ID, "logs", a.Output.Logs, func() consumer.Logs { return pipeline.OTLPLogs(c.opts.Host, a.Output.Logs) }),
	}
	c.mu.Lock()
	c.cfg = s
	c.mu.Unlock()
	c.opts.Logger.Info("memory limits set", "limit_bytes", hard, "soft_limit_bytes", soft)
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

// orRefuse resolves a signal's output, or a consumer refusing the signal when it has none.
func orRefuse[T any](id, signal string, ids []string, resolve func() T) T {
	if len(ids) > 0 {
		return resolve()
	}
	refuse := func() error { return status.Error(codes.Unimplemented, fmt.Sprintf("%s has no %s output", id, signal)) }
	var out any
	switch signal {
	case "traces":
		out, _ = consumer.NewTraces(func(context.Context, ptrace.Traces) error { return refuse() })
	case "metrics":
		out, _ = consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return refuse() })
	default:
		out, _ = consumer.NewLogs(func(context.Context, plog.Logs) error { return refuse() })
	}
	return out.(T)
}

// Run measures the heap every check_interval until ctx ends.
func (c *Component) Run(ctx context.Context) error {
	defer pipeline.ReleaseOTLP(c.opts, c)
	for {
		c.check()
		c.mu.Lock()
		interval := c.cfg.interval
		c.mu.Unlock()
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-c.changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// check measures the heap and decides whether to refuse; above the hard limit it forces a
// garbage collection first (at most every minGCInterval) and measures again.
func (c *Component) check() {
	c.mu.Lock()
	hard, soft := c.cfg.hard, c.cfg.soft
	c.mu.Unlock()
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

// Traces implements pipeline.OTLPReceiver.
func (c *Component) Traces() consumer.Traces { return c.tc }

// Metrics implements pipeline.OTLPReceiver.
func (c *Component) Metrics() consumer.Metrics { return c.mc }

// Logs implements pipeline.OTLPReceiver.
func (c *Component) Logs() consumer.Logs { return c.lc }
