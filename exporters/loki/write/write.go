// Package write implements loki.write: it pushes log entries to one or more Loki endpoints
// (protobuf + snappy, the github.com/grafana/loki/pkg/push types), batching by size and
// age, with a bounded queue and a sender per endpoint.
//
// Delivery: a request Loki answers 429 or 5xx (or does not answer) is retried with backoff,
// honouring Retry-After, for as long as it takes: while Loki is down the queue fills and
// ConsumeLogs blocks, which slows the sources down. Entries Loki refuses for good (400 and
// other 4xx) are dropped and counted by reason. A batch is acknowledged once every endpoint
// is done with it, with the refusals as its error. When the component stops it sends what
// is queued until the controller's flush deadline (pipeline.FlushContext), or for
// queue_config.drain_timeout if that ends first; batches not delivered by then are not
// acknowledged at all, so their sources keep their positions and send them again after a
// restart.
package write

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares loki.write.
var Registration = pipeline.Register("loki.write", DefaultArguments, New, pipeline.KindLogs)

// Component is a running loki.write. It is its own LogsReceiver.
//
// Lock order: Component.mu, then a queue's mu. Senders take only their queue's lock.
type Component struct {
	opts    pipeline.Options
	metrics *metrics

	mu        sync.Mutex
	endpoints []*endpoint // in configuration order
	names     *streamNames
	external  map[string]string
	running   bool // Run has started the senders
	stopping  bool // Run is stopping: nothing more is accepted or started
	wg        sync.WaitGroup
	// runCtx is Run's context without its cancellation: senders run under a child of it, so
	// that they find the controller's flush deadline (pipeline.FlushContext) when stopped.
	runCtx context.Context
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.LogsReceiver        = (*Component)(nil)
)

// New builds a loki.write component; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts}
	c.metrics = newMetrics(c.currentEndpoints)
	if err := c.metrics.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Component) currentEndpoints() []*endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoints
}

// Update implements pipeline.Updater. Endpoints whose configuration is unchanged keep their
// queue and sender; removed ones drain (for at most their drain_timeout) and stop; new ones
// start empty.
func (c *Component) Update(a *Arguments) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return errStopping
	}
	old := c.endpoints
	reused := make([]bool, len(old))
	next := make([]*endpoint, len(a.Endpoints))
	var created []*endpoint
	for i := range a.Endpoints {
		for j, o := range old {
			if !reused[j] && reflect.DeepEqual(o.cfg, a.Endpoints[i]) {
				next[i], reused[j] = o, true
				break
			}
		}
		if next[i] != nil {
			continue
		}
		ep, err := newEndpoint(a.Endpoints[i], c.metrics, c.opts.Logger, c.opts.Health)
		if err != nil {
			for _, e := range created {
				e.client.hc.CloseIdleConnections()
			}
			return pipeline.Nest(fmt.Sprintf("endpoints[%d]", i), err)
		}
		next[i] = ep
		created = append(created, ep)
	}
	for j, o := range old {
		if reused[j] {
			continue
		}
		o.queue.close(errRemoved)
		if o.cancel != nil {
			o.cancel() // its sender drains, then lets the rest go
		} else {
			o.abandonIfRemoved() // never started
			o.client.hc.CloseIdleConnections()
		}
	}
	c.endpoints = next
	if c.names == nil || !reflect.DeepEqual(c.external, a.ExternalLabels) {
		c.names, c.external = newStreamNames(a.ExternalLabels), a.ExternalLabels
	}
	if c.running {
		for _, ep := range next {
			c.start(ep)
		}
	}
	return nil
}

// start starts ep's sender unless it runs already. c.mu is held and Run is running.
func (c *Component) start(ep *endpoint) {
	if ep.started {
		return
	}
	ctx, cancel := context.WithCancel(c.runCtx)
	ep.started, ep.cancel = true, cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ep.run(ctx)
	}()
}

// Run implements pipeline.Component: it runs a sender per endpoint and, once ctx ends,
// lets them drain and waits for them.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return errStopping
	}
	c.running = true
	c.runCtx = context.WithoutCancel(ctx)
	for _, ep := range c.endpoints {
		c.start(ep)
	}
	c.mu.Unlock()
	c.opts.Health.Set(pipeline.HealthHealthy, "")

	<-ctx.Done()
	c.mu.Lock()
	c.stopping = true
	for _, ep := range c.endpoints {
		ep.queue.close(errStopping)
		if ep.cancel != nil {
			ep.cancel()
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// ConsumeLogs implements pipeline.LogsReceiver. It waits while an endpoint's queue is full
// (backpressure); the batch is queued on every endpoint or on none.
func (c *Component) ConsumeLogs(ctx context.Context, b pipeline.LogBatch) error {
	c.metrics.received.Add(float64(len(b.Entries)))
	for {
		c.mu.Lock()
		if c.stopping {
			c.mu.Unlock()
			return errStopping
		}
		eps, names := c.endpoints, c.names
		c.mu.Unlock()

		it, dropErr := c.newItem(b.Entries, names)
		if len(it.entries) == 0 {
			b.Ack(dropErr)
			return nil
		}
		var targets []*endpoint
		removed := false
		for _, ep := range eps {
			err := ep.queue.reserve(ctx, it.bytes)
			switch {
			case err == nil:
				targets = append(targets, ep)
			case errors.Is(err, errRemoved):
				removed = true // an update removed it while we were looking: skip it
			default:
				for _, t := range targets {
					t.queue.unreserve(it.bytes)
				}
				return err
			}
		}
		if len(targets) == 0 && removed {
			continue // every endpoint was replaced: queue on the new ones
		}
		it.tracker = &batchTracker{remaining: len(targets), ack: func(err error) { b.Ack(errors.Join(dropErr, err)) }}
		for _, t := range targets {
			t.queue.enqueue(it)
		}
		return nil
	}
}

// newItem prepares entries for the queues: each gets its stream label string; entries
// whose labels Loki would refuse are dropped and counted here.
func (c *Component) newItem(entries []pipeline.LogEntry, names *streamNames) (*item, error) {
	it := &item{entries: entries, streams: make([]string, 0, len(entries))}
	var (
		prev         model.LabelSet
		name, reason string
		dropped      int
	)
	for i := range entries {
		e := &entries[i]
		if i == 0 || !sameMap(prev, e.Labels) {
			prev = e.Labels
			name, reason = names.name(e.Labels)
		}
		if reason != "" {
			if dropped == 0 {
				// Copy the entries that stay: the sender's slice is not ours to compact.
				it.entries = append([]pipeline.LogEntry(nil), entries[:i]...)
			}
			dropped++
			continue
		}
		if dropped > 0 {
			it.entries = append(it.entries, *e)
		}
		it.streams = append(it.streams, name)
		it.bytes += entrySize(e)
		if it.oldest.IsZero() || e.Timestamp.Before(it.oldest) {
			it.oldest = e.Timestamp
		}
	}
	if dropped == 0 {
		return it, nil
	}
	c.metrics.dropped.WithLabelValues("", reasonInvalidLabels).Add(float64(dropped))
	return it, fmt.Errorf("%d entries dropped: %s (no labels, or a label name or value Loki refuses)", dropped, reasonInvalidLabels)
}
