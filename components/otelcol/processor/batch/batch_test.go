package batch

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

type running struct {
	c      *Component
	sink   *oteltest.Sink
	cancel context.CancelFunc
	done   chan error
}

// run runs the component, every signal going to a recording sink.
func run(t *testing.T, edit func(*Arguments)) *running {
	t.Helper()
	host := pipelinetest.NewHost()
	sink := oteltest.NewSink().Register(host, "sink")
	r := runOn(t, host, func(a *Arguments) {
		a.Output.Traces, a.Output.Metrics, a.Output.Logs = []string{"sink"}, []string{"sink"}, []string{"sink"}
		if edit != nil {
			edit(a)
		}
	})
	r.sink = sink
	return r
}

// runOn runs the component on host; edit sets its outputs.
func runOn(t *testing.T, host *pipelinetest.Host, edit func(*Arguments)) *running {
	t.Helper()
	a := DefaultArguments()
	edit(a)
	c, err := New(pipelinetest.Options(t, "otelcol.processor.batch/test", host), a)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
	r.done <- nil // later stops return at once
}

// The timing tests run in a synctest bubble: the batcher, the sink and the host are all
// in memory, so synctest.Wait returns once the batcher has done all it can at the current
// (fake) instant, and time.Sleep moves the clock to the next timeout or retry exactly.

func TestBatchBySize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := run(t, func(a *Arguments) { a.SendBatchSize = 10; a.Timeout = model.Duration(time.Hour) })
		for i := range 5 {
			require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(uint64(i), 2, nil)))
		}
		synctest.Wait()
		require.Equal(t, 10, r.sink.SpanCount(), "sent as soon as full, long before the timeout")
		require.Len(t, r.sink.AllTraces(), 1, "one request of 10 spans")
		require.Equal(t, 1.0, testutil.ToFloat64(r.c.traces.m.sent.WithLabelValues("traces"))/10)
	})
}

func TestBatchByTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := run(t, func(a *Arguments) { a.Timeout = model.Duration(20 * time.Millisecond) })
		require.NoError(t, r.c.Logs().ConsumeLogs(context.Background(), oteltest.Logs(3, nil)))
		require.NoError(t, r.c.Metrics().ConsumeMetrics(context.Background(), oteltest.Metrics(nil)))
		synctest.Wait()
		require.Empty(t, r.sink.AllLogs(), "not full, not due yet")
		require.Empty(t, r.sink.AllMetrics(), "not full, not due yet")
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		require.Len(t, r.sink.AllLogs(), 1)
		require.Len(t, r.sink.AllMetrics(), 1)
		require.Equal(t, 3, r.sink.AllLogs()[0].LogRecordCount())
	})
}

func TestSplitByMaxSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := run(t, func(a *Arguments) { a.SendBatchSize = 10; a.SendBatchMaxSize = 10 })
		require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 25, nil)))
		synctest.Wait()
		require.Equal(t, 25, r.sink.SpanCount())
		var sizes []int
		for _, td := range r.sink.AllTraces() {
			sizes = append(sizes, td.SpanCount())
		}
		require.Equal(t, []int{10, 10, 5}, sizes)
	})
}

// TestRefusedBatchIsHeld: a batch the next component refuses is kept and sent again, and
// meanwhile senders get RESOURCE_EXHAUSTED with a retry delay (429 over HTTP); nothing is
// lost.
func TestRefusedBatchIsHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := run(t, func(a *Arguments) { a.Timeout = model.Duration(time.Millisecond) })
		r.sink.Fail(status.Error(codes.Unavailable, "sending queue is full"))
		require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 4, nil)))

		// The timeout sends the batch; the sink refuses it and the batcher holds it.
		time.Sleep(time.Millisecond)
		synctest.Wait()
		refused := r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(2, 1, nil))
		require.Error(t, refused, "new data is refused while the batch is held")
		st := status.Convert(refused)
		require.Equal(t, codes.ResourceExhausted, st.Code())
		require.Equal(t, time.Second, st.Details()[0].(*errdetails.RetryInfo).GetRetryDelay().AsDuration())

		// The retry comes after the first backoff (1s, the delay the refusal announced).
		r.sink.Fail(nil)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, 4, r.sink.SpanCount(), "the held batch goes through")
		require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(3, 1, nil)), "and data is accepted again")
		require.Zero(t, testutil.ToFloat64(r.c.traces.m.dropped.WithLabelValues("traces", "rejected")))
	})
}

// TestPermanentRefusalDropsAndCounts: a refusal for good is dropped and counted, not held.
// Besides the collector's permanent errors, that is a gRPC code the OTLP rules say not to
// retry (INVALID_ARGUMENT: what otelcol.exporter.loki answers for records Loki refused for
// good), which was held and retried for ever while every sender got 429s.
func TestPermanentRefusalDropsAndCounts(t *testing.T) {
	for _, refusal := range []error{
		consumererror.NewPermanent(errors.New("bad data")),
		status.Error(codes.InvalidArgument, "loki refused the records"),
	} {
		t.Run(refusal.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := run(t, func(a *Arguments) { a.Timeout = model.Duration(time.Millisecond) })
				r.sink.Fail(refusal)
				require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 4, nil)))
				time.Sleep(time.Millisecond)
				synctest.Wait()
				require.Equal(t, 4.0, testutil.ToFloat64(r.c.traces.m.dropped.WithLabelValues("traces", "rejected")))
				require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(2, 1, nil)), "nothing held")
			})
		})
	}
}

func TestFullBatchRefuses(t *testing.T) {
	// Not running: nothing drains the batch.
	a := DefaultArguments()
	a.SendBatchSize = 10
	a.Output.Traces = []string{"sink"}
	c, err := New(pipelinetest.Options(t, "otelcol.processor.batch/test", pipelinetest.NewHost()), a)
	require.NoError(t, err)
	require.NoError(t, c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 15, nil)))
	err = c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(2, 6, nil))
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "over twice the batch size pending")
}

func TestStopSendsPending(t *testing.T) {
	r := run(t, func(a *Arguments) { a.Timeout = model.Duration(time.Hour) })
	require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 3, nil)))
	r.stop()
	require.Equal(t, 3, r.sink.SpanCount())
	// After stop, data passes straight through.
	require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(2, 1, nil)))
	require.Equal(t, 4, r.sink.SpanCount())
}

func TestNoOutputForSignal(t *testing.T) {
	r := run(t, func(a *Arguments) { a.Output.Logs = nil })
	err := r.c.Logs().ConsumeLogs(context.Background(), oteltest.Logs(1, nil))
	require.Equal(t, codes.Unimplemented, status.Code(err))
}

func TestSplit(t *testing.T) {
	t.Run("traces across resources and scopes", func(t *testing.T) {
		td := oteltest.Traces(1, 4, nil)
		oteltest.Traces(2, 3, nil).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		head := splitTraces(td, 5)
		require.Equal(t, 5, head.SpanCount())
		require.Equal(t, 2, td.SpanCount())
		require.Equal(t, 2, head.ResourceSpans().Len())
		require.Equal(t, "sonde-test", resourceName(head.ResourceSpans().At(1).Resource().Attributes().AsRaw()))
	})
	t.Run("logs", func(t *testing.T) {
		ld := oteltest.Logs(7, nil)
		head := splitLogs(ld, 3)
		require.Equal(t, 3, head.LogRecordCount())
		require.Equal(t, 4, ld.LogRecordCount())
		require.Equal(t, "line 0", head.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
		require.Equal(t, "line 3", ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	})
	t.Run("metrics between metrics", func(t *testing.T) {
		md := pmetric.NewMetrics()
		sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
		for range 3 {
			g := sm.Metrics().AppendEmpty().SetEmptyGauge()
			g.DataPoints().AppendEmpty()
			g.DataPoints().AppendEmpty()
		}
		head := splitMetrics(md, 3)
		require.Equal(t, 2, head.DataPointCount())
		require.Equal(t, 4, md.DataPointCount())
		head = splitMetrics(md, 1) // a metric larger than the limit still moves
		require.Equal(t, 2, head.DataPointCount())
		require.Equal(t, 2, md.DataPointCount())
	})
}

func resourceName(m map[string]any) string { s, _ := m["service.name"].(string); return s }

func TestValidate(t *testing.T) {
	a := DefaultArguments()
	require.ErrorContains(t, a.Validate(), "output")
	a.Output.Traces = []string{"x"}
	require.NoError(t, a.Validate())
	a.SendBatchMaxSize = 10
	require.ErrorContains(t, a.Validate(), "send_batch_max_size")
	a.SendBatchMaxSize, a.Timeout, a.SendBatchSize = 0, 0, 0
	err := a.Validate()
	require.ErrorContains(t, err, "timeout")
	require.ErrorContains(t, err, "send_batch_size")
}

func TestLifecycle(t *testing.T) {
	a := DefaultArguments()
	a.Output.Traces = []string{"x"}
	b := DefaultArguments()
	b.Output.Traces = []string{"y"}
	b.SendBatchSize = 100
	pipelinetest.Lifecycle(t, Registration, a, b)
}

func BenchmarkBatchTraces(b *testing.B) {
	host := pipelinetest.NewHost()
	a := DefaultArguments()
	a.Output.Traces = []string{"discard"}
	discard := &discardSink{}
	discard.register(host)
	c, err := New(pipelinetest.Options(b, "otelcol.processor.batch/bench", host), a)
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 100, nil)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "spans/s")
}
