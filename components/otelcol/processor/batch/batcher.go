package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sondehq/sonde/internal/otelcol"
)

// ops are the signal-specific parts of a batcher.
type ops[T any] struct {
	signal  string
	empty   func() T
	count   func(T) int
	moveAll func(src, dst T)     // appends src's content to dst, leaving src empty
	split   func(src T, n int) T // removes about the first n items of src and returns them
}

// Retry delays for a batch the next component refused (unless it said how long to wait).
const (
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// batcher collects data until send_batch_size items or timeout, then sends it on from its
// own goroutine.
//
// With wait_for_result, senders wait for the answer of the next component to the batch
// their data went into, and get that answer: a 200 then means the next component took the
// data (a sending queue on disk, Loki's acknowledgement, the write-ahead log), and a refusal
// goes back to the senders, who send again; nothing is held here, so nothing is lost if sonde
// is killed.
//
// Without it, senders are answered as soon as their data is in the batch. Backpressure
// without loss: the collector's batch processor answers 200 and drops a batch the next
// component refuses (a full sending queue). Here a batch refused with a retryable error is
// held and sent again with backoff, and while it is held new data is refused with
// RESOURCE_EXHAUSTED and a retry delay, which the OTLP receiver answers 429 with
// Retry-After. At a stop a held batch is retried until the flush deadline.
//
// Either way the batch being filled is bounded (pendingLimit), so a slow next component
// turns into 429s, not memory, and every send runs under the component's send context: a
// send waiting on a downstream acknowledgement ends at the shutdown budget's deadline.
type batcher[T any] struct {
	ops ops[T]
	m   *metrics

	mu      sync.Mutex
	cfg     config[T]
	cur     T
	items   int
	since   time.Time // when cur got its first item
	waiters []waiter  // senders of cur waiting for its result (wait_for_result)
	held    error     // the refusal answered while a refused batch waits for its retry
	stopped bool
	kick    chan struct{}
}

// waiter is a sender waiting for the result of its batch.
type waiter struct {
	ctx  context.Context // the sender's request; once every waiter's has ended, nobody waits
	done chan error
}

// config is what Update may change.
type config[T any] struct {
	timeout time.Duration
	size    int
	maxSize int
	next    func(context.Context, T) error
	// wait makes senders wait for the result of sending their batch (wait_for_result).
	wait bool
	// noOutput: the signal has no output, so next refuses everything; data goes straight
	// to it rather than into a batch.
	noOutput bool
}

func newBatcher[T any](o ops[T], m *metrics) *batcher[T] {
	return &batcher[T]{ops: o, m: m, cur: o.empty(), kick: make(chan struct{}, 1)}
}

func (b *batcher[T]) setConfig(c config[T]) {
	b.mu.Lock()
	b.cfg = c
	b.mu.Unlock()
	b.signal() // the timeout may be shorter now
}

func (b *batcher[T]) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// pendingLimit bounds the batch being filled: twice the batch size, or the largest batch.
func (c config[T]) pendingLimit() int { return max(2*c.size, c.maxSize) }

// consume adds data to the current batch.
func (b *batcher[T]) consume(ctx context.Context, data T) error {
	n := b.ops.count(data)
	if n == 0 {
		return nil
	}
	b.mu.Lock()
	if b.stopped || b.cfg.noOutput {
		next := b.cfg.next
		b.mu.Unlock()
		return next(ctx, data) // stopping, or nowhere to send: straight through
	}
	if b.held != nil {
		err := b.held
		b.mu.Unlock()
		b.m.refused.WithLabelValues(b.ops.signal).Add(float64(n))
		return err
	}
	if b.items > 0 && b.items+n > b.cfg.pendingLimit() {
		b.mu.Unlock()
		b.m.refused.WithLabelValues(b.ops.signal).Add(float64(n))
		return refusal(minRetry, "batch is full")
	}
	first := b.items == 0
	if first {
		b.since = time.Now()
	}
	b.ops.moveAll(data, b.cur)
	b.items += n
	full := b.items >= b.cfg.size
	var done chan error
	if b.cfg.wait {
		done = make(chan error, 1)
		b.waiters = append(b.waiters, waiter{ctx: ctx, done: done})
	}
	b.mu.Unlock()
	if first || full {
		b.signal() // the flusher learns of the new deadline, or that the batch is full
	}
	if done == nil {
		return nil
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// The data is still sent with its batch; the sender, told nothing was confirmed,
		// sends it again (at least once).
		return status.Error(codes.Unavailable, "batch processor: the request ended before its batch was sent: "+ctx.Err().Error())
	}
}

// run sends batches until ctx ends, then sends what is left (stop).
func (b *batcher[T]) run(ctx context.Context) {
	sendCtx, cancel := otelcol.SendContext(ctx)
	defer cancel()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b.mu.Lock()
		wait := time.Hour
		ready := false
		if b.items > 0 {
			wait = b.cfg.timeout - time.Since(b.since)
			ready = b.items >= b.cfg.size || wait <= 0
		}
		b.mu.Unlock()
		if ready {
			b.flush(sendCtx, "size_or_timeout")
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			b.stop(sendCtx)
			return
		case <-b.kick:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// take swaps the current batch for an empty one; it returns the senders waiting for it.
func (b *batcher[T]) take() (T, int, config[T], []waiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, n, waiters := b.cur, b.items, b.waiters
	b.cur, b.items, b.waiters = b.ops.empty(), 0, nil
	return data, n, b.cfg, waiters
}

// flush sends the current batch under ctx, the send context (see deliver).
func (b *batcher[T]) flush(ctx context.Context, trigger string) {
	data, n, cfg, waiters := b.take()
	if n == 0 {
		return
	}
	b.m.flushes.WithLabelValues(b.ops.signal, trigger).Inc()
	b.deliver(ctx, cfg, data, n, waiters)
}

// deliver sends a batch. When senders wait for it, they get the answer, whatever it is:
// one attempt, nothing held; once every one of them has given up (their requests ended),
// the send is given up too (it would be waiting for nobody; they send again). Otherwise a
// retryable refusal is held and retried with backoff until it goes through, the error turns
// permanent, or ctx ends (otelcol.SendContext: after the stop, not at it): a batch refused at
// a stop is retried while the shutdown budget allows, with the delay the next component
// asked for (RetryInfo).
func (b *batcher[T]) deliver(ctx context.Context, cfg config[T], data T, n int, waiters []waiter) {
	if len(waiters) > 0 {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var waiting atomic.Int64
		waiting.Store(int64(len(waiters)))
		for _, w := range waiters {
			defer context.AfterFunc(w.ctx, func() {
				if waiting.Add(-1) == 0 {
					cancel()
				}
			})()
		}
		_, left, err, perm := b.send(ctx, cfg, data, n)
		if err != nil {
			b.m.refused.WithLabelValues(b.ops.signal).Add(float64(left))
		} else {
			err = perm
		}
		for _, w := range waiters {
			w.done <- err
		}
		return
	}
	delay := minRetry
	for {
		rest, left, err, _ := b.send(ctx, cfg, data, n)
		if err == nil {
			break
		}
		retry := retryDelay(err, delay)
		b.mu.Lock()
		b.held = refusal(retry, err.Error())
		b.mu.Unlock()
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			b.mu.Lock()
			b.held = nil
			b.mu.Unlock()
			b.m.dropped.WithLabelValues(b.ops.signal, "shutdown").Add(float64(left))
			return
		case <-t.C:
		}
		data, n, cfg = rest, left, b.cfgNow()
		delay = min(2*delay, maxRetry)
	}
	b.mu.Lock()
	b.held = nil
	b.mu.Unlock()
}

func (b *batcher[T]) cfgNow() config[T] {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

// send delivers data in chunks of at most maxSize. Chunks refused for good are dropped and
// counted, and the refusals returned in perm; on a retryable refusal it returns what is
// left to send (the refused chunk and the rest) with the error.
func (b *batcher[T]) send(ctx context.Context, cfg config[T], data T, items int) (rest T, left int, err, perm error) {
	var perms []error
	for items > 0 {
		chunk, n, whole := data, items, true
		if cfg.maxSize > 0 && items > cfg.maxSize {
			// n is 0 when it cannot split further (one metric larger than the limit).
			if c := b.ops.split(data, cfg.maxSize); b.ops.count(c) > 0 {
				chunk, n, whole = c, b.ops.count(c), false
			}
		}
		err := cfg.next(ctx, chunk)
		switch {
		case err == nil:
			b.m.sent.WithLabelValues(b.ops.signal).Add(float64(n))
		case permanent(err):
			b.m.dropped.WithLabelValues(b.ops.signal, "rejected").Add(float64(n))
			perms = append(perms, err)
		default:
			if !whole {
				b.ops.moveAll(data, chunk) // the refused chunk first, then the rest
			}
			return chunk, items, err, errors.Join(perms...)
		}
		if whole {
			break
		}
		items -= n
	}
	return b.ops.empty(), 0, nil, errors.Join(perms...)
}

// permanent tells a refusal that sending again cannot help: the collector's permanent
// errors, and the gRPC codes an OTLP sender must not retry (otelcol.exporter.loki answers
// INVALID_ARGUMENT for records Loki refused for good).
func permanent(err error) bool {
	if consumererror.IsPermanent(err) {
		return true
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.InvalidArgument, codes.Unimplemented, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition:
			return true
		}
	}
	return false
}

// stop makes later data pass straight through and sends what is pending under ctx, the
// send context, which ends at the flush deadline.
func (b *batcher[T]) stop(ctx context.Context) {
	b.mu.Lock()
	b.stopped = true
	b.held = nil
	b.mu.Unlock()
	data, n, cfg, waiters := b.take()
	if n == 0 {
		return
	}
	b.m.flushes.WithLabelValues(b.ops.signal, "stop").Inc()
	b.deliver(ctx, cfg, data, n, waiters)
}

// retryDelay is the delay the next component asked for (gRPC RetryInfo), else def.
func retryDelay(err error, def time.Duration) time.Duration {
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
				return min(ri.GetRetryDelay().AsDuration(), maxRetry)
			}
		}
	}
	return def
}

// refusal is the error senders get while the batcher cannot take data.
func refusal(retry time.Duration, why string) error {
	st, err := status.New(codes.ResourceExhausted, fmt.Sprintf("batch processor: %s; retry later", why)).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, why)
	}
	return st.Err()
}
