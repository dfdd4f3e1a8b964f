package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// node is one component of the running graph and the goroutine that runs it.
type node struct {
	spec    Spec
	reg     Registration
	opts    Options
	health  *Health
	metrics *metricsHandle
	targets *targetsHandle
	logs    *logsHandle
	logger  *slog.Logger

	mu     sync.Mutex
	comp   Component
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *node) current() Component {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.comp
}

// build creates a new instance from the node's spec and points the stable handles at it.
func (n *node) build() error {
	comp, err := n.reg.New(n.opts, n.spec.Args)
	if err != nil {
		return err
	}
	if mr, ok := comp.(MetricsReceiver); ok {
		n.metrics.set(mr.Appendable())
	}
	if lr, ok := comp.(LogsReceiver); ok {
		n.logs.set(lr)
	}
	n.mu.Lock()
	n.comp = comp
	n.mu.Unlock()
	return nil
}

func (n *node) update(s Spec) error {
	u, ok := n.current().(Updater)
	if !ok {
		return errors.New("component cannot update in place")
	}
	if err := u.Update(s.Args); err != nil {
		return err
	}
	n.mu.Lock()
	n.spec = s
	n.mu.Unlock()
	n.logger.Info("component updated")
	return nil
}

// start runs the component until stop; a Run that fails is rebuilt and restarted with
// exponential backoff (1s up to 1m), its health showing the error meanwhile.
func (n *node) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	n.mu.Lock()
	n.cancel, n.done = cancel, make(chan struct{})
	n.mu.Unlock()
	n.logger.Info("component starting", "type", n.spec.Type)
	go func() {
		defer close(n.done)
		defer n.opts.Registerer.(*trackingRegisterer).unregisterAll()
		backoff := time.Second
		for {
			started := time.Now()
			err := n.run(ctx)
			if ctx.Err() != nil {
				n.health.Set(HealthStopped, "")
				n.logger.Info("component stopped")
				return
			}
			if err == nil {
				err = errors.New("Run returned before shutdown")
			}
			if time.Since(started) > 5*time.Minute {
				backoff = time.Second
			}
			n.health.Set(HealthUnhealthy, fmt.Sprintf("exited: %v (restarting in %s)", err, backoff))
			n.logger.Error("component exited; restarting", "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				n.health.Set(HealthStopped, "")
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
			n.opts.Registerer.(*trackingRegisterer).unregisterAll()
			if err := n.build(); err != nil {
				n.health.Set(HealthUnhealthy, "rebuild: "+err.Error())
				n.logger.Error("component rebuild failed", "err", err)
			}
		}
	}()
}

func (n *node) run(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	comp := n.current()
	if n.health.Get().State == HealthStarting || n.health.Get().State == HealthUnhealthy {
		n.health.Set(HealthHealthy, "")
	}
	return comp.Run(ctx)
}

func (n *node) stop(timeout time.Duration) {
	n.mu.Lock()
	cancel, done := n.cancel, n.done
	n.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-done:
	case <-time.After(timeout):
		n.logger.Error("component did not stop in time; abandoning it", "timeout", timeout)
	}
}
