package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Stopping: one deadline for a whole stop (the shutdown budget at shutdown, StopTimeout for
// what a reload removes). A component stops once every component that sends to it has
// stopped (sources first); components with no such relation stop in parallel, so sinks
// flush side by side within the same deadline instead of one after another. A component
// learns the deadline through FlushContext; what it cannot deliver by then it leaves durable
// (WAL, positions, on-disk queue) for the next start.

// DefaultFlushTimeout bounds FlushContext when the controller set no deadline (a component
// run outside a controller, in tests).
const DefaultFlushTimeout = 15 * time.Second

type flushKey struct{}

// flushDeadline is the deadline of a component's flush, set by the controller when it
// cancels the component's Run context; zero until then.
type flushDeadline struct{ at atomic.Int64 } // Unix nanoseconds

// withFlushDeadline returns ctx carrying a flush deadline the controller sets later.
func withFlushDeadline(ctx context.Context) (context.Context, *flushDeadline) {
	fd := &flushDeadline{}
	return context.WithValue(ctx, flushKey{}, fd), fd
}

// FlushContext returns the context a component sends its last data in once its Run context
// ctx has ended: it is not cancelled with ctx and ends at the deadline the controller gave
// the stop (DefaultFlushTimeout from now when there is none). Everything a sink does after
// ctx ends — draining its queue, a last request, shutting down a collector exporter — runs
// under it, so that all sinks together fit the shutdown budget.
func FlushContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(DefaultFlushTimeout)
	if fd, ok := ctx.Value(flushKey{}).(*flushDeadline); ok {
		if at := fd.at.Load(); at != 0 {
			deadline = time.Unix(0, at)
		}
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// stopGraph stops the nodes ids within deadline, each once the nodes among ids that
// reference it have stopped. It returns when every node has stopped or the deadline passed.
func (c *Controller) stopGraph(ids []string, deadline time.Time) {
	c.mu.RLock()
	nodes := make(map[string]*node, len(ids))
	for _, id := range ids {
		if n := c.nodes[id]; n != nil {
			nodes[id] = n
		}
	}
	c.mu.RUnlock()
	stopped := make(map[string]chan struct{}, len(nodes))
	for id := range nodes {
		stopped[id] = make(chan struct{})
	}
	// senders[id]: the nodes being stopped that send to (or take targets from) id.
	senders := map[string][]chan struct{}{}
	for id, n := range nodes {
		for _, ref := range n.spec.References() {
			for _, to := range ref.IDs {
				if _, ok := nodes[to]; ok && to != id {
					senders[to] = append(senders[to], stopped[id])
				}
			}
		}
	}
	expired, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for id, n := range nodes {
		wg.Go(func() {
			defer close(stopped[id])
			for _, s := range senders[id] {
				select {
				case <-s:
				case <-expired.Done(): // stop it anyway: it may still save its state
				}
			}
			n.stop(deadline)
		})
	}
	wg.Wait()
}
