package pipeline

import (
	"context"
	"time"
)

// Starting: sinks first, and a component starts sending only once the components it sends
// to can take data. A component that needs time before it can (a remote-write WAL opened
// and replayed) implements Readier; the controller holds back the Run of every component
// that references it until it is ready, so nothing they send meanwhile is refused.

// Readier is implemented by components that are not able to take data as soon as their Run
// starts. Ready returns a channel closed once they are; it must stay the same for the life of
// the component.
type Readier interface {
	Ready() <-chan struct{}
}

// MaxStartWait bounds how long a component waits for the components it references to be
// ready; past it, it starts anyway (and what it sends is refused and retried as usual) and
// the wait is logged.
const MaxStartWait = 5 * time.Minute

// ready returns a channel closed once the node's Run has started and, for a Readier, once
// its component is ready.
func (n *node) readyChan() <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		select {
		case <-n.running:
		case <-n.done:
			return
		}
		if r, ok := n.current().(Readier); ok {
			select {
			case <-r.Ready():
			case <-n.done:
			}
		}
	}()
	return out
}

// waitReady waits until every node in deps is ready, ctx ends or MaxStartWait passes.
func (n *node) waitReady(ctx context.Context, deps []*node) {
	if len(deps) == 0 {
		return
	}
	t := time.NewTimer(MaxStartWait)
	defer t.Stop()
	for _, d := range deps {
		select {
		case <-d.readyChan():
		case <-ctx.Done():
			return
		case <-t.C:
			n.logger.Warn("starting although a component it sends to is not ready", "waited", MaxStartWait, "not_ready", d.spec.ID)
			return
		}
	}
}
