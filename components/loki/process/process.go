// Package process implements loki.process: it runs Promtail-style pipeline stages (json,
// logfmt, regex, labels, static_labels, label_drop, label_keep, structured_metadata,
// timestamp, output, match, drop, multiline, limit) on every log entry it receives and
// forwards the result to the components in forward_to.
//
// Acknowledgements: the batch forwarded downstream carries the incoming batch's Ack, and
// entries a stage drops are acknowledged with it (they are counted, and done with). With a
// multiline stage, a batch is acknowledged once every block holding one of its lines has
// been acknowledged downstream.
package process

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares loki.process.
var Registration = pipeline.Register("loki.process", DefaultArguments, New, pipeline.KindLogs)

// shutdownFlushTimeout bounds how long Run spends sending held multiline blocks when it
// stops. Blocks not sent by then are not acknowledged: their sources send them again.
const shutdownFlushTimeout = 5 * time.Second

// Component is a running loki.process. It is its own LogsReceiver, valid for the
// component's whole life.
type Component struct {
	opts    pipeline.Options
	metrics *metrics
	state   atomic.Pointer[state]

	mu      sync.Mutex
	retired []*state // replaced states whose held blocks Run still has to send
	updated chan struct{}
}

// state is what one set of arguments compiles to. Update replaces it as a whole; a batch
// keeps the state it started with.
type state struct {
	prog  *program
	next  pipeline.LogsReceiver
	cache *labelCache
	ml    *multiline // nil: no multiline stage
	ready readyQueue
	// sendMu orders the sending of ready blocks, so that the blocks of a stream reach the
	// next component in the order they completed, whoever sends them.
	sendMu  sync.Mutex
	scratch sync.Pool // *entryState
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.LogsReceiver        = (*Component)(nil)
)

// New builds a loki.process component; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts, updated: make(chan struct{}, 1)}
	c.metrics = newMetrics(c.heldLines)
	if err := c.metrics.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Update implements pipeline.Updater. Blocks held by the old stages are sent (through the
// old forward_to) by Run.
func (c *Component) Update(a *Arguments) error {
	prog, err := compile(a.Stages)
	if err != nil {
		return err
	}
	st := &state{prog: prog, next: c.opts.Host.Logs(a.ForwardTo), cache: newLabelCache()}
	if prog.ml != nil {
		st.ml = newMultiline(prog.ml)
	}
	names := prog.names
	st.scratch.New = func() any { return newEntryState(names) }

	old := c.state.Swap(st)
	if old != nil && old.ml != nil {
		old.ml.expire(time.Now(), true, &old.ready)
		c.mu.Lock()
		c.retired = append(c.retired, old)
		c.mu.Unlock()
	}
	select {
	case c.updated <- struct{}{}:
	default:
	}
	return nil
}

// Run implements pipeline.Component. Processing happens on the callers' goroutines; Run
// sends multiline blocks whose wait is over, and the held blocks when it stops.
func (c *Component) Run(ctx context.Context) error {
	c.opts.Health.Set(pipeline.HealthHealthy, "")

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		st := c.state.Load()
		timer.Reset(time.Hour)
		if st.ml != nil {
			timer.Reset(max(st.ml.cfg.maxWait/4, 10*time.Millisecond))
		}
		c.sendRetired(ctx)
		select {
		case <-ctx.Done():
			c.stop()
			return nil
		case <-c.updated:
		case now := <-timer.C:
			if st.ml != nil {
				st.ml.expire(now, false, &st.ready)
				if err := c.sendReady(ctx, st); err != nil && ctx.Err() == nil {
					c.opts.Logger.Warn("sending multiline blocks failed", "err", err)
				}
			}
		}
	}
}

// sendRetired sends what replaced states still hold, and forgets them once empty.
func (c *Component) sendRetired(ctx context.Context) {
	c.mu.Lock()
	retired := c.retired
	c.retired = nil
	c.mu.Unlock()
	var keep []*state
	for _, st := range retired {
		if err := c.sendReady(ctx, st); err != nil || st.ready.len() > 0 {
			keep = append(keep, st)
		}
	}
	if len(keep) > 0 {
		c.mu.Lock()
		c.retired = append(keep, c.retired...)
		c.mu.Unlock()
	}
}

// stop sends every held block, within shutdownFlushTimeout.
func (c *Component) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownFlushTimeout)
	defer cancel()
	c.mu.Lock()
	states := append(c.retired, c.state.Load())
	c.retired = nil
	c.mu.Unlock()
	for _, st := range states {
		if st.ml == nil {
			continue
		}
		st.ml.expire(time.Now(), true, &st.ready)
		if err := c.sendReady(ctx, st); err != nil {
			c.opts.Logger.Warn("held multiline blocks not sent at shutdown; their sources will send them again", "blocks", st.ready.len(), "err", err)
		}
	}
}

func (c *Component) heldLines() float64 {
	n := 0
	if st := c.state.Load(); st != nil && st.ml != nil {
		n = st.ml.heldLines() + st.ready.len()
	}
	return float64(n)
}

// ConsumeLogs implements pipeline.LogsReceiver. The incoming entries are not modified
// (they are copied into the batch sent on), so a sender may safely send a batch again
// after an error.
func (c *Component) ConsumeLogs(ctx context.Context, b pipeline.LogBatch) error {
	st := c.state.Load()
	c.metrics.received.Add(float64(len(b.Entries)))
	if st.ml != nil {
		return c.consumeMultiline(ctx, st, b)
	}
	es := st.scratch.Get().(*entryState)
	defer st.scratch.Put(es)
	defer c.metrics.add(&es.counts)
	es.now = time.Now()

	out := make([]pipeline.LogEntry, 0, len(b.Entries))
	for i := range b.Entries {
		es.reset(&b.Entries[i])
		if !run(ctx, st.prog.pre, es) {
			if es.err != nil {
				return es.err
			}
			es.counts.dropped = bump(es.counts.dropped, es.dropReason)
			continue
		}
		e := b.Entries[i]
		es.store(&e, st.cache)
		out = append(out, e)
	}
	if len(out) == 0 {
		b.Ack(nil)
		return nil
	}
	if err := st.next.ConsumeLogs(ctx, pipeline.LogBatch{Entries: out, Ack: b.Ack}); err != nil {
		return err
	}
	c.metrics.sent.Add(float64(len(out)))
	return nil
}

// consumeMultiline runs the stages before multiline, adds the entries to their blocks and
// sends the blocks that are complete.
func (c *Component) consumeMultiline(ctx context.Context, st *state, b pipeline.LogBatch) error {
	tr := newTracker(b.Ack)
	es := st.scratch.Get().(*entryState)
	es.now = time.Now()
	for i := range b.Entries {
		es.reset(&b.Entries[i])
		if !run(ctx, st.prog.pre, es) {
			if es.err != nil {
				c.metrics.add(&es.counts)
				st.scratch.Put(es)
				tr.cancel()
				return es.err
			}
			es.counts.dropped = bump(es.counts.dropped, es.dropReason)
			continue
		}
		e := b.Entries[i]
		h := es.labelsHash()
		es.store(&e, st.cache)
		st.ml.add(&e, h, tr, es.now, &st.ready)
	}
	c.metrics.add(&es.counts)
	st.scratch.Put(es)
	if err := c.sendReady(ctx, st); err != nil {
		tr.cancel()
		return err
	}
	tr.release(nil)
	return nil
}

// sendReady runs the stages after multiline on the ready blocks and sends them on as one
// batch, acknowledged to the batches their lines came from. Blocks that cannot be sent
// (ctx ended) go back to the front of the queue.
func (c *Component) sendReady(ctx context.Context, st *state) error {
	if st.ml == nil {
		return nil
	}
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	blocks := st.ready.take()
	if len(blocks) == 0 {
		return nil
	}
	es := st.scratch.Get().(*entryState)
	defer st.scratch.Put(es)
	defer c.metrics.add(&es.counts)
	es.now = time.Now()

	out := make([]pipeline.LogEntry, 0, len(blocks))
	kept := make([]*block, 0, len(blocks))
	for i, bl := range blocks {
		e := bl.entry()
		es.reset(&e)
		if !run(ctx, st.prog.post, es) {
			if es.err != nil {
				st.ready.putBack(append(kept, blocks[i:]...))
				return es.err
			}
			es.counts.dropped = bump(es.counts.dropped, es.dropReason)
			for _, t := range bl.trackers {
				t.release(nil)
			}
			continue
		}
		es.store(&e, st.cache)
		out = append(out, e)
		kept = append(kept, bl)
	}
	if len(out) == 0 {
		return nil
	}
	ack := func(err error) {
		for _, bl := range kept {
			for _, t := range bl.trackers {
				t.release(err)
			}
		}
	}
	if err := st.next.ConsumeLogs(ctx, pipeline.NewLogBatch(out, ack)); err != nil {
		st.ready.putBack(kept)
		return err
	}
	c.metrics.sent.Add(float64(len(out)))
	return nil
}
