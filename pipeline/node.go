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
	handles *handles
	logger  *slog.Logger

	mu     sync.Mutex
	comp   Component
	cancel context.CancelFunc
	done   chan struct{}
	flush  *flushDeadline // set when the node is stopped
	// running is closed when the first Run starts (see start.go).
	running chan struct{}
	runs    runRecord // guarded by mu
}

// Crash-loop bounds (see Controller.Ready).
const (
	// CrashLoopFailures is how many failed runs in a row make a component crash-looping.
	CrashLoopFailures = 3
	// StableRun is how long a run must last to end a streak of failed runs: a component
	// that has run this long since its last failure is no longer crash-looping.
	StableRun = 30 * time.Second
	// crashLoopLogEvery bounds how often a component that keeps failing with the same error
	// is logged once it is crash-looping.
	crashLoopLogEvery = 10 * time.Minute
)

// runRecord is what the controller knows about a node's runs.
type runRecord struct {
	restarts  uint64    // restarts since the node was created
	failures  int       // failed runs in a row, not interrupted by a run lasting StableRun
	lastErr   error     // the last failed run's error
	loggedAt  time.Time // when a failure was last logged
	loggedErr string    // the error then logged
}

// crashLoop returns the last error when the node is crash-looping, nil otherwise.
func (n *node) crashLoop() (failures int, restarts uint64, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.runs
	if r.failures < CrashLoopFailures {
		return r.failures, r.restarts, nil
	}
	return r.failures, r.restarts, r.lastErr
}

// failed records a failed run and logs it: every failure until the component is
// crash-looping, then once when it becomes so, then only when the error changes or every
// crashLoopLogEvery, so that a component failing forever does not flood the log.
func (n *node) failed(err error, backoff time.Duration) {
	n.mu.Lock()
	r := &n.runs
	r.failures++
	r.lastErr = err
	failures, restarts, now := r.failures, r.restarts, time.Now()
	msg := ""
	switch {
	case failures < CrashLoopFailures:
		msg = "component exited; restarting"
	case failures == CrashLoopFailures:
		msg = "component crash-looping; agent not ready until it runs for " + StableRun.String()
	case err.Error() != r.loggedErr || now.Sub(r.loggedAt) >= crashLoopLogEvery:
		msg = "component still crash-looping"
	}
	if msg != "" {
		r.loggedAt, r.loggedErr = now, err.Error()
	}
	n.mu.Unlock()
	switch {
	case msg == "":
	case failures < CrashLoopFailures:
		n.logger.Warn(msg, "err", err, "backoff", backoff, "failures", failures)
	default:
		n.logger.Error(msg, "err", err, "backoff", backoff, "failures", failures, "restarts", restarts)
	}
}

// stable ends a streak of failed runs; called once a run has lasted StableRun.
func (n *node) stable() {
	n.mu.Lock()
	failures := n.runs.failures
	n.runs.failures, n.runs.lastErr = 0, nil
	n.mu.Unlock()
	if failures >= CrashLoopFailures {
		n.logger.Info("component recovered from crash loop", "failures", failures, "ran_for", StableRun)
	}
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
	if err := n.reg.CheckExports(comp); err != nil {
		return err
	}
	n.handles.attach(comp)
	n.mu.Lock()
	n.comp = comp
	n.mu.Unlock()
	return nil
}

func (n *node) update(s Spec) error {
	if n.reg.Update == nil {
		return errors.New("component cannot update in place")
	}
	if err := n.reg.Update(n.current(), s.Args); err != nil {
		return err
	}
	n.mu.Lock()
	n.spec = s
	n.mu.Unlock()
	n.logger.Info("component updated")
	return nil
}

// start runs the component until stop; a Run that fails is rebuilt and restarted with
// exponential backoff (1s up to 1m), its health showing the error meanwhile. Failed runs
// are counted (crash loop, restarts) and their logging is rate-limited (failed).
//
// Its first Run waits until the components in deps (those it references) are ready.
func (n *node) start(parent context.Context, deps []*node) {
	ctx, fd := withFlushDeadline(parent)
	ctx, cancel := context.WithCancel(ctx)
	n.mu.Lock()
	n.cancel, n.done, n.flush = cancel, make(chan struct{}), fd
	n.mu.Unlock()
	n.logger.Info("component starting", "type", n.spec.Type)
	go func() {
		defer close(n.done)
		defer n.opts.Registerer.(*trackingRegisterer).unregisterAll()
		n.waitReady(ctx, deps)
		close(n.running)
		backoff := time.Second
		for {
			started := time.Now()
			stableTimer := time.AfterFunc(StableRun, n.stable)
			err := n.run(ctx)
			stableTimer.Stop()
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
			n.failed(err, backoff)
			n.health.Set(HealthUnhealthy, fmt.Sprintf("exited: %v (restarting in %s)", err, backoff))
			select {
			case <-ctx.Done():
				n.health.Set(HealthStopped, "")
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
			n.mu.Lock()
			n.runs.restarts++
			n.mu.Unlock()
			n.opts.Registerer.(*trackingRegisterer).unregisterAll()
			if err := n.build(); err != nil {
				// The previous instance runs again; its next failure counts as usual.
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
	// Its OTLP handle refuses data while it does not run (OTLP clients send again): data
	// taken after Run returned would be lost.
	n.handles.otlp.attach(comp)
	defer n.handles.otlp.release(comp)
	if n.health.Get().State == HealthStarting || n.health.Get().State == HealthUnhealthy {
		n.health.Set(HealthHealthy, "")
	}
	return comp.Run(ctx)
}

// stop cancels the node's Run, telling it to flush by deadline (FlushContext), and waits
// for it to return until the deadline.
func (n *node) stop(deadline time.Time) {
	n.mu.Lock()
	cancel, done, fd := n.cancel, n.done, n.flush
	n.mu.Unlock()
	if cancel == nil {
		return
	}
	fd.at.Store(deadline.UnixNano())
	cancel()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		n.logger.Error("component did not stop in time; abandoning it", "deadline", deadline.Format(time.RFC3339Nano))
	}
}
