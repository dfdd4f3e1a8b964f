// Package kubernetesevents implements loki.source.kubernetes_events: it forwards the
// cluster's Kubernetes events as log lines, from one agent of the DaemonSet at a time.
//
// Every agent runs the component; they elect a leader through a coordination.k8s.io/v1
// Lease (client-go's leader election: lease_duration 15s, renew_deadline 10s,
// retry_period 2s). Only the leader lists and watches the events and forwards a line for
// every new version of an event (Alloy's format: logfmt or JSON, labels job, instance and
// namespace, the event's own time as timestamp); the others stand by, healthy, without
// watching anything.
//
// Failover without loss: the leader writes a delivered mark into the Lease with every
// renewal, the time of the newest event that forward_to acknowledged with every event read
// before it. Whoever takes over lists the events and skips those older than that mark less
// failover_overlap; those within the overlap are sent again (Loki drops the exact
// duplicates: same stream, timestamp and line). A leader that stops cleanly drains its
// batches and then releases the Lease with its last mark, so the next one takes over at its
// next retry; one that dies is replaced once the Lease expires.
package kubernetesevents

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/klog/v2"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/internal/logbatch"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares loki.source.kubernetes_events.
var Registration = pipeline.Register("loki.source.kubernetes_events", DefaultArguments, New)

// Timings (variables for tests): how soon a client that could not be built is tried
// again, and how often health is checked.
var (
	clientRetry    = 10 * time.Second
	healthInterval = time.Second
)

// Component is a running loki.source.kubernetes_events.
//
// Run owns every goroutine: the leader election (client-go's LeaderElector, whose callbacks
// only hand a context over), the health loop, and while leading the term's watchers and
// batcher. Without Update, new arguments restart the component (releasing the Lease).
type Component struct {
	opts      pipeline.Options
	args      *Arguments
	metrics   *metrics
	identity  string
	namespace string // the Lease's

	lock    atomic.Pointer[leaseLock]
	current atomic.Pointer[term] // the term under way; nil while standing by
	leader  atomic.Pointer[string]

	// flushTimeout, when set, shortens the flush at stop (tests run without a controller).
	flushTimeout time.Duration
}

var _ pipeline.Component = (*Component)(nil)

// New builds a loki.source.kubernetes_events; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	identity, err := args.LeaderElection.identity()
	if err != nil {
		return nil, err
	}
	ns, from := args.LeaderElection.leaseNamespace()
	c := &Component{opts: opts, args: args, metrics: newMetrics(), identity: identity, namespace: ns}
	if err := c.metrics.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	opts.Logger.Debug("lease", "lease", ns+"/"+args.LeaderElection.LeaseName, "namespace_from", from, "identity", identity)
	return c, nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()
	var clientErr atomic.Pointer[errorHolder]
	wg.Go(func() { c.healthLoop(hctx, &clientErr) })

	var cl *kube.Client
	for cl == nil {
		var err error
		cl, err = c.opts.Kube.Client(c.args.ClientArgs)
		if err != nil {
			clientErr.Store(&errorHolder{err})
			c.opts.Logger.Error("cannot build the Kubernetes client", "err", err, "retry_in", clientRetry)
			if !sleep(ctx, clientRetry) {
				return nil
			}
		}
	}
	defer cl.Release()
	clientErr.Store(nil)

	le := c.args.LeaderElection
	lock := newLeaseLock(cl.Clientset().CoordinationV1(), c.namespace, le.LeaseName, c.identity,
		time.Duration(le.RenewDeadline), c.metrics.leaseErrors)
	c.lock.Store(lock)
	c.opts.Logger.Info("standing for leader", "lease", lock.Describe(), "identity", c.identity, "client", c.args.ClientArgs.Mode())
	for ctx.Err() == nil {
		c.elect(ctx, cl, lock)
	}
	return nil
}

// elect runs one leader election: it stands by until this agent takes the Lease, then
// forwards events until it loses the Lease or ctx ends. At the end of a term started by
// ctx ending, the batches are drained first and the Lease released after, carrying the
// last mark.
func (c *Component) elect(ctx context.Context, cl *kube.Client, lock *leaseLock) {
	le := c.args.LeaderElection
	// The election outlives ctx: it is cancelled (releasing the Lease) once the term drained.
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ectx = klog.NewContext(ectx, klog.LoggerWithValues(klog.Background(), "component", c.opts.ID))
	leading := make(chan context.Context, 1)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   time.Duration(le.LeaseDuration),
		RenewDeadline:   time.Duration(le.RenewDeadline),
		RetryPeriod:     time.Duration(le.RetryPeriod),
		ReleaseOnCancel: true,
		Name:            c.opts.ID,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { leading <- lctx },
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				c.leader.Store(&identity)
			},
		},
	})
	if err != nil {
		// Validate rules out every configuration NewLeaderElector refuses.
		cancel()
		c.opts.Logger.Error("cannot run the leader election", "err", err)
		sleep(ctx, clientRetry)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		elector.Run(ectx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-ctx.Done():
	case <-done:
	case lctx := <-leading:
		c.lead(ctx, lctx, cl, lock)
	}
}

// lead runs a term until the Lease is lost (lctx ends) or the component stops (ctx ends).
func (c *Component) lead(ctx, lctx context.Context, cl *kube.Client, lock *leaseLock) {
	mark := lock.Mark()
	t := &term{
		args:    c.args,
		id:      c.opts.ID,
		events:  cl.Clientset().CoreV1(),
		lock:    lock,
		metrics: c.metrics,
		logger:  c.opts.Logger,
		labels:  map[string]model.LabelSet{},
	}
	if !mark.IsZero() {
		t.cutoff = mark.Add(-time.Duration(c.args.LeaderElection.FailoverOverlap))
		t.stream.Restore(mark.UnixNano())
	}
	t.out = logbatch.New(logbatch.Config[int64]{
		Limits:    func() (int, time.Duration) { return batchBytes, batchWait },
		Less:      func(a, b int64) bool { return a < b },
		Committed: t.committed,
		Metrics:   logbatch.Metrics{EntriesSent: c.metrics.forwarded, BatchesAcked: c.metrics.batchesAcked},
		Logger:    c.opts.Logger,
	})
	t.out.SetReceiver(c.opts.Host.Logs(c.args.ForwardTo))

	c.current.Store(t)
	c.metrics.leader.Set(1)
	c.metrics.transitions.Inc()
	c.checkHealth(nil)
	c.opts.Logger.Info("started leading: forwarding events", "lease", lock.Describe(), "identity", c.identity,
		"delivered_mark", fmtTime(mark), "skipping_before", fmtTime(t.cutoff))

	tctx, stop := context.WithCancel(lctx)
	defer stop()
	unhook := context.AfterFunc(ctx, stop)
	defer unhook()
	t.forward(tctx)

	if ctx.Err() != nil {
		// Stopping while leading: deliver what was read, so that the Lease is released
		// with the furthest mark (what is not delivered by the deadline is sent again by
		// the next leader).
		fctx, cancel := pipeline.FlushContext(ctx)
		defer cancel()
		if c.flushTimeout > 0 {
			var tcancel context.CancelFunc
			fctx, tcancel = context.WithTimeout(fctx, c.flushTimeout)
			defer tcancel()
		}
		t.out.Finish(fctx)
		c.opts.Logger.Info("stopped leading: stopping", "delivered_mark", fmtTime(lock.Mark()))
	} else {
		// The Lease is lost: another agent may already forward. What is not acknowledged
		// is sent again by it (from this term's last mark in the Lease).
		c.opts.Logger.Warn("stopped leading: the lease could not be renewed", "lease", lock.Describe(),
			"delivered_mark", fmtTime(lock.Mark()), "err", lock.Err())
	}
	c.current.Store(nil)
	c.metrics.leader.Set(0)
	c.metrics.transitions.Inc()
}

// healthLoop reports the component's health until ctx ends.
func (c *Component) healthLoop(ctx context.Context, clientErr *atomic.Pointer[errorHolder]) {
	tick := time.NewTicker(healthInterval)
	defer tick.Stop()
	for {
		var err error
		if h := clientErr.Load(); h != nil {
			err = h.err
		}
		c.checkHealth(err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkHealth reports why the component cannot do its job (no client, the Lease or the
// events refused), whether it leads, and who does when it does not.
func (c *Component) checkHealth(clientErr error) {
	lock := c.lock.Load()
	if lock != nil {
		if m := lock.Mark(); !m.IsZero() {
			c.metrics.mark.Set(float64(m.UnixNano()) / 1e9)
		}
	}
	t := c.current.Load()
	switch {
	case clientErr != nil:
		c.opts.Health.Set(pipeline.HealthUnhealthy, clientErr.Error())
	case lock == nil:
		c.opts.Health.Set(pipeline.HealthStarting, "")
	case t != nil:
		n := len(c.args.namespaces())
		switch err := t.err(); {
		case err != nil:
			c.opts.Health.Set(pipeline.HealthUnhealthy, "leading, but the events cannot be read (RBAC needs list and watch on events): "+err.Error())
		case int(t.listed.Load()) < n:
			c.opts.Health.Set(pipeline.HealthHealthy, "leading: listing events")
		default:
			c.opts.Health.Set(pipeline.HealthHealthy, "leading: forwarding events")
		}
	case lock.Err() != nil:
		c.opts.Health.Set(pipeline.HealthUnhealthy, "standby, cannot take part in the election (RBAC needs get, create and update on leases): "+lock.Err().Error())
	default:
		if h := lock.Holder(); h != "" && h != c.identity {
			c.opts.Health.Set(pipeline.HealthHealthy, "standby: "+h+" forwards the events")
		} else {
			c.opts.Health.Set(pipeline.HealthHealthy, "standby: waiting for the lease")
		}
	}
}

// Info is what DebugInfo reports.
type Info struct {
	Identity      string    `json:"identity"`
	Lease         string    `json:"lease"`
	Leader        string    `json:"leader"`
	Leading       bool      `json:"leading"`
	DeliveredMark time.Time `json:"delivered_mark,omitzero"`
	Namespaces    []string  `json:"namespaces,omitempty"`
}

// DebugInfo implements pipeline.DebugInfoProvider.
func (c *Component) DebugInfo() any {
	info := Info{
		Identity:   c.identity,
		Lease:      c.namespace + "/" + c.args.LeaderElection.LeaseName,
		Leading:    c.current.Load() != nil,
		Namespaces: c.args.Namespaces,
	}
	if l := c.leader.Load(); l != nil {
		info.Leader = *l
	}
	if lock := c.lock.Load(); lock != nil {
		info.DeliveredMark = lock.Mark()
	}
	return info
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
