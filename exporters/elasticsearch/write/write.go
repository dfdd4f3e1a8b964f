// Package write implements elasticsearch.write: it writes log entries to Elasticsearch (or
// an engine that speaks its bulk API: OpenSearch, ZincSearch) with the _bulk API, one
// document per entry, batching by size and age, through a bounded queue and one sender.
//
// Delivery: a request answered 429 or 5xx (or not answered) is sent again with backoff,
// honouring Retry-After, for as long as it takes: while Elasticsearch is down the queue
// fills and ConsumeLogs blocks, which slows the sources down. A 200 answer lists the result
// of every document: those rejected with 429 or 5xx are sent again (alone: the documents
// stored are never sent twice), those refused for good (a mapping error's 400, ...) are
// dropped and counted by reason. A whole request refused with another 4xx (401: wrong
// credentials) is dropped and counted. A batch is acknowledged once each of its entries is
// stored or dropped, with the drops as its error. When the component stops it sends what
// is queued until the controller's flush deadline (pipeline.FlushContext), or for
// queue_config.drain_timeout if that ends first; batches not delivered by then are not
// acknowledged at all, so their sources keep their positions and send them again after a
// restart.
package write

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/sondehq/sonde/internal/batchwait"
	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares elasticsearch.write.
var Registration = pipeline.Register("elasticsearch.write", DefaultArguments, New, pipeline.KindLogs)

// stopMargin is how long before the flush deadline (at most a tenth of the time left) a
// stopping sender gives up on what it is still sending.
const stopMargin = 200 * time.Millisecond

// errAbandoned: the drain deadline passed before the request was done; its entries are
// not acknowledged (an acknowledgement with an error would let a source move its
// positions past them): their sources send them again after a restart.
var errAbandoned = errors.New("not delivered before the drain deadline")

// Component is a running elasticsearch.write. It is its own LogsReceiver.
type Component struct {
	opts    pipeline.Options
	logger  *slog.Logger
	queue   *queue
	metrics *metrics
	cfg     atomic.Pointer[settings] // what the sender uses; Update replaces it
	status  httppush.Status
	refused bool // the last request was refused as a whole; only the sender uses it

	mu      sync.Mutex
	running bool
}

// settings are the arguments in the form the sender uses them.
type settings struct {
	args   *Arguments
	client *client
	tmpl   *indexTemplate
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.LogsReceiver        = (*Component)(nil)
)

// New builds an elasticsearch.write component; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts, logger: opts.Logger, queue: newQueue(int(args.QueueConfig.Capacity))}
	c.metrics = newMetrics(c.queue)
	if err := c.metrics.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Update implements pipeline.Updater: the queue and what it holds stay; the sender takes
// the new settings from its next request on.
func (c *Component) Update(a *Arguments) error {
	tmpl, err := parseIndex(a.Index)
	if err != nil {
		return pipeline.Field("index", "%v", err)
	}
	cl, err := newClient(&a.Endpoint)
	if err != nil {
		return pipeline.Nest("endpoint", err)
	}
	c.queue.setCapacity(int(a.QueueConfig.Capacity))
	if old := c.cfg.Swap(&settings{args: a, client: cl, tmpl: tmpl}); old != nil {
		old.client.closeIdle()
	}
	return nil
}

// ConsumeLogs implements pipeline.LogsReceiver. It waits while the queue is full
// (backpressure).
func (c *Component) ConsumeLogs(ctx context.Context, b pipeline.LogBatch) error {
	c.metrics.received.Add(float64(len(b.Entries)))
	if len(b.Entries) == 0 {
		b.Ack(nil)
		return nil
	}
	it := &item{entries: b.Entries, ack: b.Ack}
	var (
		prev  unsafe.Pointer
		lsize int
	)
	for i := range b.Entries {
		e := &b.Entries[i]
		if p := *(*unsafe.Pointer)(unsafe.Pointer(&e.Labels)); i == 0 || p != prev {
			prev, lsize = p, labelsSize(e.Labels)
		}
		it.bytes += entrySize(e, lsize)
		if it.oldest.IsZero() || e.Timestamp.Before(it.oldest) {
			it.oldest = e.Timestamp
		}
	}
	return c.queue.push(ctx, it)
}

// Run implements pipeline.Component: it runs the sender and, once ctx ends, lets it drain
// the queue and waits for it.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("elasticsearch.write: Run called twice")
	}
	c.running = true
	c.mu.Unlock()
	c.opts.Health.Set(pipeline.HealthHealthy, "")

	// The sender runs under Run's context without its cancellation, so that it drains
	// after ctx ends, until the drain deadline (sendCtx).
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.send(ctx, sendCtx)
	}()

	<-ctx.Done()
	c.queue.close()
	fctx, cancel := pipeline.FlushContext(ctx)
	deadline, _ := fctx.Deadline()
	cancel()
	left := time.Until(deadline)
	left -= min(stopMargin, left/10)
	t := time.NewTimer(min(time.Duration(c.cfg.Load().args.QueueConfig.DrainTimeout), left))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cancelSend()
		<-done
	}
	if n, _, _, _ := c.queue.stats(); n > 0 {
		c.logger.Warn("drain deadline passed: queued entries not sent; their sources will send them again", "entries", n)
	}
	c.cfg.Load().client.closeIdle()
	return nil
}

// send is the sender: it sends requests until ctx ends and the queue is empty, or sendCtx
// ends.
func (c *Component) send(ctx, sendCtx context.Context) {
	var (
		r     request
		cur   *settings
		enc   *docEncoder
		timer = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	defer func() {
		if cur != nil {
			cur.client.closeIdle()
		}
	}()
	for {
		s := c.cfg.Load()
		if !batchwait.Wait(ctx, sendCtx, timer, c.queue, int(s.args.BatchSize), time.Duration(s.args.BatchWait)) {
			return
		}
		if s = c.cfg.Load(); s != cur {
			if cur != nil {
				// Update closed its idle connections, but not the one this sender was
				// using then.
				cur.client.closeIdle()
			}
			cur, enc = s, newDocEncoder(s.tmpl, s.args.DataStream)
		}
		r.reset(enc)
		c.queue.fill(&r, int(s.args.BatchSize))
		if len(r.ops) == 0 {
			continue
		}
		if err := c.sendRequest(sendCtx, s, &r); err != nil {
			return // abandoned: the entries stay unacknowledged
		}
		c.queue.complete(&r)
	}
}

// sendRequest sends r until each of its operations is stored or dropped. There is no
// limit on the number of retries; only the drain deadline (ctx) abandons a request.
func (c *Component) sendRequest(ctx context.Context, s *settings, r *request) error {
	failing := false
	for attempt := 0; len(r.pending) > 0; {
		body := s.client.encode(r.nextBody())
		n := len(r.pending)
		start := time.Now()
		res := s.client.post(ctx, body)
		c.metrics.duration.WithLabelValues(strconv.Itoa(res.Status)).Observe(time.Since(start).Seconds())
		c.metrics.sentBytes.Add(float64(len(body)))
		var retry map[string]int
		switch {
		case res.Err == nil:
			stored, dropped, again := r.outcome(res.Answer)
			c.metrics.sent.Add(float64(stored))
			c.status.Success(time.Now())
			if len(dropped) > 0 {
				d := 0
				for reason, k := range dropped {
					c.metrics.dropped.WithLabelValues(reason).Add(float64(k))
					d += k
				}
				c.logger.Warn("Elasticsearch refused documents; they are dropped", "dropped", d, "documents", n, "first", r.sample)
			}
			if len(again) == 0 {
				if len(r.pending) > 0 {
					continue // left undone after a failed document (ZincSearch): at once
				}
				if failing || c.refused {
					c.logger.Info("bulk requests succeed again", "retries", attempt)
					c.opts.Health.Set(pipeline.HealthHealthy, "")
					c.refused = false
				}
				return nil
			}
			retry = again
		case ctx.Err() != nil:
			return errAbandoned
		case !res.Retryable():
			reason := requestReason(res.Status)
			for _, i := range r.pending {
				r.drop(i, reason, redact(s, res))
			}
			r.pending = r.pending[:0]
			c.metrics.dropped.WithLabelValues(reason).Add(float64(n))
			c.status.Failure(time.Now(), redact(s, res), res.Status, false)
			c.logger.Error("Elasticsearch refused a bulk request; its entries are dropped", "status", res.Status, "entries", n, "node", s.client.urls[res.node].Redacted(), "err", redact(s, res))
			state := pipeline.HealthHealthy
			if reason == reasonUnauthorized {
				state = pipeline.HealthUnhealthy // wrong credentials: every request will fail
			}
			c.opts.Health.Set(state, fmt.Sprintf("last bulk request refused (%d entries dropped): %s", n, redact(s, res)))
			c.refused = true
			return nil
		default:
			reason := retryNetwork
			switch {
			case res.Status == http.StatusTooManyRequests:
				reason = retryHTTP429
			case res.Status/100 == 5:
				reason = retryHTTP5xx
			}
			retry = map[string]int{reason: n}
			c.status.Failure(time.Now(), redact(s, res), res.Status, true)
		}
		for reason, k := range retry {
			c.metrics.retried.WithLabelValues(reason).Add(float64(k))
		}
		c.status.Retry()
		delay := httppush.Backoff(attempt, time.Duration(s.args.MinBackoff), time.Duration(s.args.MaxBackoff))
		if res.RetryAfter > 0 {
			delay = res.RetryAfter
		}
		attempt++
		if !failing {
			failing = true
			c.logger.Warn("bulk request not done; sending again until it is", "status", res.Status, "retry_in", delay, "retried", retry, "node", s.client.urls[res.node].Redacted(), "err", redact(s, res))
			c.opts.Health.Set(pipeline.HealthHealthy, fmt.Sprintf("bulk requests failing (%v), retrying", retry))
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errAbandoned
		}
	}
	return nil
}

// redact is res's error without the password of the node's URL.
func redact(s *settings, res result) string {
	if res.Err == nil {
		return "some documents were rejected"
	}
	if res.node < len(s.client.urls) {
		return httppush.Redact(res.Err.Error(), s.client.urls[res.node].URL)
	}
	return res.Err.Error()
}

// DebugInfo is what elasticsearch.write reports in the UI and under `debug` in
// GET /api/v1/components/<id>.
type DebugInfo struct {
	// URLs are the nodes, with their passwords, if any, replaced by "xxxxx".
	URLs         []string `json:"urls"`
	QueueEntries int      `json:"queue_entries"`
	// QueueBytes is the weight of what is queued; QueueCapacityBytes bounds it.
	QueueBytes         int `json:"queue_bytes"`
	QueueCapacityBytes int `json:"queue_capacity_bytes"`
	// LagSeconds is now minus the timestamp of the oldest entry queued (0 when empty).
	LagSeconds float64 `json:"lag_seconds"`
	httppush.StatusInfo
}

var _ pipeline.DebugInfoProvider = (*Component)(nil)

// DebugInfo implements pipeline.DebugInfoProvider.
func (c *Component) DebugInfo() any {
	s := c.cfg.Load()
	entries, bytes, capacity, oldest := c.queue.stats()
	d := DebugInfo{QueueEntries: entries, QueueBytes: bytes, QueueCapacityBytes: capacity, StatusInfo: c.status.Info()}
	for _, u := range s.client.urls {
		d.URLs = append(d.URLs, u.Redacted())
	}
	if !oldest.IsZero() {
		d.LagSeconds = max(time.Since(oldest).Seconds(), 0)
	}
	return d
}
