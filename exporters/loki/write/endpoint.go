package write

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sondehq/sonde/internal/batchwait"
	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/pipeline"
)

// stopMargin is how long before the flush deadline (at most a tenth of the time left) a
// stopping endpoint gives up on what it is still sending.
const stopMargin = 200 * time.Millisecond

// errAbandoned: the drain deadline passed before the request was delivered; its entries
// are not acknowledged, neither as delivered nor with an error (an acknowledgement with an
// error would let a source move its positions past them): their sources send them again
// after a restart.
var errAbandoned = errors.New("not delivered before the drain deadline")

// endpoint is one push URL with its own queue and sender goroutine, so that a slow or dead
// Loki delays only its own queue (until that queue is full: a batch is acknowledged once
// every endpoint has it, so a full queue holds the sources back).
type endpoint struct {
	cfg    EndpointConfig
	name   string
	client *client
	queue  *queue
	m      *metrics
	logger *slog.Logger
	health *pipeline.Health

	enc   *encoder
	parts []part

	// Owned by the component, under its lock.
	started bool
	cancel  context.CancelFunc

	failing bool // the last request failed; logged once until it recovers

	status httppush.Status // for DebugInfo
}

func newEndpoint(cfg EndpointConfig, m *metrics, logger *slog.Logger, health *pipeline.Health) (*endpoint, error) {
	cl, err := newClient(&cfg)
	if err != nil {
		return nil, err
	}
	name := cfg.name()
	m.initEndpoint(name)
	return &endpoint{
		cfg:    cfg,
		name:   name,
		client: cl,
		queue:  newQueue(int(cfg.QueueConfig.Capacity)),
		m:      m,
		logger: logger.With("endpoint", name),
		health: health,
		enc:    newEncoder(),
	}, nil
}

// run sends batches until ctx ends, then drains the queue until the drain deadline: a
// little before the flush deadline the controller gave the stop (pipeline.FlushContext; ctx
// carries it), or drain_timeout after ctx ended if that comes first. The queue must have been closed before
// ctx is cancelled, so that nothing more comes in.
func (e *endpoint) run(ctx context.Context) {
	sendCtx, cancelSend := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// The drain deadline: starts when ctx ends.
		defer wg.Done()
		select {
		case <-exited:
			return
		case <-ctx.Done():
		}
		fctx, cancel := pipeline.FlushContext(ctx)
		deadline, _ := fctx.Deadline()
		cancel()
		// Give up a little before the deadline, so that Run has returned by then.
		left := time.Until(deadline)
		left -= min(stopMargin, left/10)
		t := time.NewTimer(min(time.Duration(e.cfg.QueueConfig.DrainTimeout), left))
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			cancelSend()
		}
	}()
	defer func() {
		close(exited)
		wg.Wait()
		cancelSend()
		e.client.hc.CloseIdleConnections()
		e.abandonIfRemoved()
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for batchwait.Wait(ctx, sendCtx, timer, e.queue, int(e.cfg.BatchSize), time.Duration(e.cfg.BatchWait)) {
		e.enc.reset()
		e.parts = e.queue.fill(e.enc, int(e.cfg.BatchSize), e.parts[:0])
		if e.enc.entries == 0 {
			continue
		}
		err := e.send(sendCtx)
		if errors.Is(err, errAbandoned) {
			if n, _, _ := e.queue.stats(); n > 0 {
				e.logger.Warn("drain deadline passed: queued entries not sent; their sources will send them again", "entries", n)
			}
			return
		}
		e.queue.complete(e.parts, e.enc.bytes, err)
		clear(e.parts)
	}
}

// abandonIfRemoved lets the batches still queued for a removed endpoint go: they no longer
// wait for it. (When the whole component stops they stay unacknowledged instead, so that
// their sources send them again.)
func (e *endpoint) abandonIfRemoved() {
	if errors.Is(e.queue.closedWith(), errRemoved) {
		if n, _, _ := e.queue.stats(); n > 0 {
			e.logger.Warn("endpoint removed before its queue was sent; those entries will not reach it", "entries", n)
		}
		e.queue.abandon(fmt.Errorf("endpoint %s: %w before delivery", e.name, errRemoved))
	}
}

// send pushes the encoder's request until Loki takes it or refuses it for good. There is no
// limit on the number of retries; only the drain deadline (sendCtx) abandons a request.
func (e *endpoint) send(ctx context.Context) error {
	body, err := e.enc.encode()
	if err != nil {
		e.drop([]reasonCount{{reasonBadRequest, e.enc.entries}})
		e.status.Failure(time.Now(), e.redactError(err), 0, false)
		return err
	}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		res := e.client.push(ctx, body)
		e.m.duration.WithLabelValues(e.name, strconv.Itoa(res.Status)).Observe(time.Since(start).Seconds())
		if res.Err == nil {
			e.status.Success(time.Now())
			e.m.sentTotal.WithLabelValues(e.name).Add(float64(e.enc.entries))
			e.m.sentBytes.WithLabelValues(e.name).Add(float64(e.enc.bytes))
			if e.failing {
				e.failing = false
				e.logger.Info("push succeeded again", "retries", attempt)
				e.health.Set(pipeline.HealthHealthy, "")
			}
			return nil
		}
		if ctx.Err() != nil {
			return errAbandoned
		}
		if !res.Retryable() || (res.Status == http.StatusTooManyRequests && !e.cfg.RetryOnHTTP429) {
			reasons := dropReasons(res.Status, res.Body, e.enc.entries, e.enc.streamEntries)
			dropped := e.drop(reasons)
			if sent := e.enc.entries - dropped; sent > 0 {
				e.m.sentTotal.WithLabelValues(e.name).Add(float64(sent))
				e.m.sentBytes.WithLabelValues(e.name).Add(float64(e.enc.bytes) * float64(sent) / float64(e.enc.entries))
			}
			e.status.Failure(time.Now(), e.redactError(res.Err), res.Status, false)
			why := describe(reasons)
			e.logger.Warn("Loki refused entries; they are dropped", "status", res.Status, "dropped", dropped, "entries", e.enc.entries, "reasons", why, "err", res.Err)
			return fmt.Errorf("endpoint %s: %d of %d entries refused (%s): %w", e.name, dropped, e.enc.entries, why, res.Err)
		}
		reason := "network"
		switch {
		case res.Status == http.StatusTooManyRequests:
			reason = "http_429"
		case res.Status/100 == 5:
			reason = "http_5xx"
		}
		e.m.retries.WithLabelValues(e.name, reason).Inc()
		e.status.Failure(time.Now(), e.redactError(res.Err), res.Status, true)
		e.status.Retry()
		delay := httppush.Backoff(attempt, time.Duration(e.cfg.MinBackoff), time.Duration(e.cfg.MaxBackoff))
		if res.RetryAfter > 0 {
			delay = res.RetryAfter
		}
		if !e.failing {
			e.failing = true
			e.logger.Warn("push failed; retrying until it succeeds", "status", res.Status, "retry_in", delay, "err", res.Err)
			e.health.Set(pipeline.HealthHealthy, fmt.Sprintf("endpoint %s: push failing (%v), retrying", e.name, res.Err))
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errAbandoned
		}
	}
}

// drop counts refused entries and returns how many.
func (e *endpoint) drop(reasons []reasonCount) int {
	n := 0
	for _, rc := range reasons {
		e.m.dropped.WithLabelValues(e.name, rc.reason).Add(float64(rc.n))
		n += rc.n
	}
	return n
}
