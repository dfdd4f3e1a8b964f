package batch

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// retryIn is a refusal asking the sender to wait d (what a full sending queue or a
// throttling backend answers).
func retryIn(d time.Duration) error {
	st, _ := status.New(codes.Unavailable, "backend is busy").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	return st.Err()
}

// stopRefused holds a batch of 4 spans the next component refuses, asking for a retry in
// retry, and stops the component; it returns when the stop began.
func stopRefused(t *testing.T, retry time.Duration) (*running, time.Time) {
	r := run(t, func(a *Arguments) { a.Timeout = model.Duration(time.Hour) })
	r.sink.Fail(retryIn(retry))
	require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 4, nil)))
	began := time.Now()
	r.cancel()
	return r, began
}

// TestStopRetriesUntilFlushDeadline: a batch refused at the stop is not given one attempt
// and dropped: it is retried, with the delay the next component asked for, while its half
// of the flush time allows (otelcol.SendContext; pipeline.DefaultFlushTimeout, 15 s, outside
// a controller).
func TestStopRetriesUntilFlushDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, began := stopRefused(t, 5*time.Second)
		synctest.Wait()
		require.Zero(t, r.sink.SpanCount())
		time.Sleep(4 * time.Second)
		r.sink.Fail(nil) // the backend recovers before the retry it asked for
		<-r.done
		r.done <- nil
		require.Equal(t, 5*time.Second, time.Since(began), "sent at the retry the next component asked for")
		require.Equal(t, 4, r.sink.SpanCount(), "delivered within the shutdown budget")
		require.Zero(t, testutil.ToFloat64(r.c.traces.m.dropped.WithLabelValues("traces", "shutdown")))
	})
}

// TestStopGivesUpAtFlushDeadline: a batch the next component keeps refusing is retried
// through half of the flush time (the other half is for the components it sends to), then
// counted as dropped at shutdown; Run returns then.
func TestStopGivesUpAtFlushDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, began := stopRefused(t, 2*time.Second)
		<-r.done
		r.done <- nil
		require.Equal(t, pipeline.DefaultFlushTimeout/2, time.Since(began))
		require.Equal(t, 4.0, testutil.ToFloat64(r.c.traces.m.dropped.WithLabelValues("traces", "shutdown")))
	})
}

// blockingSink takes traces only when told to; until then a send waits for its context
// (as otelcol.exporter.loki waits for Loki's acknowledgement).
type blockingSink struct {
	release chan struct{}
	ended   chan error // the context error of each send that gave up
}

func (s *blockingSink) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (s *blockingSink) Traces() consumer.Traces {
	c, _ := consumer.NewTraces(func(ctx context.Context, _ ptrace.Traces) error {
		select {
		case <-s.release:
			return nil
		case <-ctx.Done():
			s.ended <- ctx.Err()
			return status.Error(codes.Unavailable, "not acknowledged in time")
		}
	})
	return c
}

// runBlocking runs the component (timeout 10 ms) sending traces to a blockingSink.
func runBlocking(t *testing.T, waitForResult bool) (*running, *blockingSink) {
	host := pipelinetest.NewHost()
	sink := &blockingSink{release: make(chan struct{}), ended: make(chan error, 10)}
	host.Export("slow", sink)
	r := runOn(t, host, func(a *Arguments) {
		a.Timeout = model.Duration(10 * time.Millisecond)
		a.WaitForResult = waitForResult
		a.Output.Traces = []string{"slow"}
	})
	return r, sink
}

// TestSendEndsAtFlushDeadline: a send waiting on the next component (Loki's acknowledgement
// while Loki is down) ends halfway to the flush deadline once the component is told to
// stop, leaving the rest to the next components, not never (the sends used
// context.Background()).
func TestSendEndsAtFlushDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, sink := runBlocking(t, false)
		require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 2, nil)))
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Empty(t, sink.ended, "while running, the send waits for the answer")
		began := time.Now()
		r.cancel()
		require.NoError(t, <-r.done)
		r.done <- nil
		require.Equal(t, pipeline.DefaultFlushTimeout/2, time.Since(began), "the send ends halfway to the flush deadline")
		require.ErrorIs(t, <-sink.ended, context.Canceled)
	})
}

// TestWaitForResult: with wait_for_result a sender is answered once its batch was sent, with
// the next component's answer; a refusal is passed back (with its retry delay), not held.
func TestWaitForResult(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := run(t, func(a *Arguments) { a.Timeout = model.Duration(200 * time.Millisecond); a.WaitForResult = true })
		answers := make(chan error, 3)
		began := time.Now()
		for i := range 2 {
			go func() {
				answers <- r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(uint64(i+1), 3, nil))
			}()
		}
		synctest.Wait()
		require.Empty(t, answers, "not answered while the batch waits")
		require.NoError(t, <-answers)
		require.NoError(t, <-answers)
		require.Equal(t, 200*time.Millisecond, time.Since(began), "answered when the batch was sent")
		require.Len(t, r.sink.AllTraces(), 1, "both senders' data in one request")
		require.Equal(t, 6, r.sink.SpanCount())

		r.sink.Fail(retryIn(3 * time.Second))
		err := r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(3, 1, nil))
		st := status.Convert(err)
		require.Equal(t, codes.Unavailable, st.Code(), "the next component's refusal reaches the sender")
		require.Equal(t, 3*time.Second, st.Details()[0].(*errdetails.RetryInfo).GetRetryDelay().AsDuration())
		require.Equal(t, 1.0, testutil.ToFloat64(r.c.traces.m.refused.WithLabelValues("traces")))

		r.sink.Fail(nil)
		require.NoError(t, r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(4, 1, nil)), "nothing held: the next batch goes")
		require.Equal(t, 7, r.sink.SpanCount(), "the refused span is not sent again by the batch (its sender does)")
	})
}

// TestWaitForResultSenderGone: a sender whose request ends before its batch is sent is told
// that nothing was confirmed (retryable); its data is still sent with the batch.
func TestWaitForResultSenderGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := run(t, func(a *Arguments) { a.Timeout = model.Duration(time.Second); a.WaitForResult = true })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := r.c.Traces().ConsumeTraces(ctx, oteltest.Traces(1, 2, nil))
		require.Equal(t, codes.Unavailable, status.Code(err))
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, 2, r.sink.SpanCount())
	})
}

// TestWaitForResultAtStop: at a stop the pending batch is sent and its senders get the
// answer.
func TestWaitForResultAtStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := run(t, func(a *Arguments) { a.Timeout = model.Duration(time.Hour); a.WaitForResult = true })
		answer := make(chan error, 1)
		go func() { answer <- r.c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 2, nil)) }()
		synctest.Wait()
		r.stop()
		require.NoError(t, <-answer)
		require.Equal(t, 2, r.sink.SpanCount())
	})
}

// TestWaitForResultNobodyWaits: once every sender of a batch has given up (their requests
// ended), the send waiting on the next component is given up too, so the batches after it
// are not held behind an answer nobody waits for.
func TestWaitForResultNobodyWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, sink := runBlocking(t, true)
		c := r.c

		began := time.Now()
		answers := make(chan error, 2)
		for i, wait := range []time.Duration{time.Second, 2 * time.Second} {
			go func() {
				rctx, rcancel := context.WithTimeout(context.Background(), wait)
				defer rcancel()
				answers <- c.Traces().ConsumeTraces(rctx, oteltest.Traces(uint64(i), 1, nil))
			}()
		}
		require.Equal(t, codes.Unavailable, status.Code(<-answers))
		require.Equal(t, codes.Unavailable, status.Code(<-answers))
		require.ErrorIs(t, <-sink.ended, context.Canceled, "the send is given up")
		require.Equal(t, 2*time.Second, time.Since(began), "once the last sender gave up")
	})
}
