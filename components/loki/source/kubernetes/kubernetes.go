// Package kubernetes implements loki.source.kubernetes: it follows the logs of the
// containers of the selected pods through the API server's pods/log endpoint, for agents
// that cannot read the node's log files (sonde on a laptop against a cluster, the
// cluster-local preset).
//
// Pods come from a pod informer of the process's cache (pipeline.Options.Kube);
// every running container of a selected pod gets a tailer, and the set of wanted
// (pod uid, container) streams is reconciled whenever the pods change. A tailer asks for
// the log with timestamps and follows it; after a disconnect it resumes at the timestamp of
// the last line it handed over and skips the lines it already saw at that timestamp, so
// nothing is duplicated or lost. Positions are committed only when forward_to acknowledged
// the lines and are saved under the component's data path, so a restart resumes without
// sending acknowledged lines again (at-least-once).
package kubernetes

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sondehq/sonde/internal/logbatch"
	"github.com/sondehq/sonde/internal/positions"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares loki.source.kubernetes.
var Registration = pipeline.Register("loki.source.kubernetes", DefaultArguments, New)

// Timings of the run loop (variables for tests): how often positions are saved and health
// checked, and how soon a failed connection to the API server is tried again.
var (
	syncInterval  = 5 * time.Second
	retryInterval = 10 * time.Second
)

// Batch limits: a batch is sent when it holds batchBytes of lines, or batchWait after its
// first line (a variable for tests).
const batchBytes = 1 << 20

var batchWait = time.Second

// Component is a running loki.source.kubernetes.
//
// Run owns every goroutine: the batcher, one tailer per followed container, and the pod
// informers (shared, through opts.Kube). Update hands new arguments over through c.args;
// Run applies them.
type Component struct {
	opts    pipeline.Options
	metrics *metrics

	args *pipeline.Latest[*Arguments] // Update stores, Run loads and waits on Changed

	// flushTimeout, when set, shortens the flush at stop (tests run without a controller,
	// whose deadline would otherwise be pipeline.DefaultFlushTimeout).
	flushTimeout time.Duration
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds a loki.source.kubernetes that takes its API client and pod informers from
// opts.Kube; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c := &Component{opts: opts, metrics: newMetrics(), args: pipeline.NewLatest(args)}
	if err := c.metrics.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	c.args.Store(args)
	return nil
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	path := filepath.Join(c.opts.DataPath, positionsFile)
	tbl := newTable()
	saved, bad, err := loadPositions(path)
	if err != nil {
		// Not fatal: the streams start over (at-least-once) rather than not at all.
		c.opts.Logger.Error("cannot read the positions file, starting without positions", "path", path, "err", err)
	}
	if bad > 0 {
		c.opts.Logger.Warn("skipped bad entries of the positions file", "path", path, "entries", bad)
	}
	tbl.restore(saved)

	out := logbatch.New(logbatch.Config[cursor]{
		Limits:    func() (int, time.Duration) { return batchBytes, batchWait },
		Less:      cursor.before,
		Committed: func() { tbl.dirty.Store(true) },
		Metrics:   logbatch.Metrics{EntriesSent: c.metrics.entriesSent, BatchesAcked: c.metrics.batchesAcked},
		Logger:    c.opts.Logger,
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	bctx, stopBatcher := context.WithCancel(ctx)
	defer stopBatcher()
	// Set before the batcher runs; apply replaces it on every update.
	out.SetReceiver(c.opts.Host.Logs(c.args.Load().ForwardTo))
	wg.Go(func() { out.Run(bctx) })

	r := newReconciler(c.opts.Logger, tbl, out, c.metrics)
	var (
		src    *source
		args   *Arguments
		srcErr error
		retry  = time.NewTimer(time.Hour)
		tick   = time.NewTicker(syncInterval)
		save   = func() {
			if !tbl.dirty.Swap(false) {
				return
			}
			if err := positions.Save(path, tbl.snapshot()); err != nil {
				tbl.dirty.Store(true)
				c.opts.Logger.Error("cannot save the positions file", "path", path, "err", err)
			}
		}
	)
	retry.Stop()
	defer tick.Stop()
	defer retry.Stop()
	defer func() {
		// Tailers first (they hand chunks to the batcher), then the batcher, then the
		// informers. The batches handed over are then delivered and their acknowledgements
		// awaited (forward_to still runs: the controller stops it after its sources), and
		// the positions are saved once, with them.
		r.stopAll()
		stopBatcher()
		wg.Wait()
		if src != nil {
			src.release()
		}
		fctx, cancel := pipeline.FlushContext(ctx)
		defer cancel()
		if c.flushTimeout > 0 {
			var tcancel context.CancelFunc
			fctx, tcancel = context.WithTimeout(fctx, c.flushTimeout)
			defer tcancel()
		}
		out.Finish(fctx)
		save()
	}()
	connect := func() {
		src, srcErr = newSource(c.opts.Kube, args, r.changed)
		if srcErr != nil {
			c.opts.Logger.Error("cannot reach the Kubernetes API server", "err", srcErr, "retry_in", retryInterval)
			retry.Reset(retryInterval)
			return
		}
		c.opts.Logger.Info("following container logs", "namespaces", args.Namespaces, "selector", args.Selector,
			"node", args.Node, "client", args.ClientArgs.Mode())
	}
	apply := func() {
		next := c.args.Load()
		out.SetReceiver(c.opts.Host.Logs(next.ForwardTo))
		if args != nil && sameSource(args, next) {
			args = next
			return
		}
		args = next
		r.stopAll()
		if src != nil {
			src.release()
			src = nil
		}
		retry.Stop()
		connect()
	}
	apply()
	c.checkHealth(src, srcErr, r)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.args.Changed():
			apply()
			r.reconcile(ctx, src)
		case <-retry.C:
			if src == nil {
				connect()
				r.reconcile(ctx, src)
			}
		case <-r.changed:
			r.reconcile(ctx, src)
		case <-tick.C:
			if src != nil && src.synced() {
				uids := src.uids()
				tbl.forget(func(uid types.UID) bool { return uids[uid] })
			}
			save()
		}
		c.checkHealth(src, srcErr, r)
	}
}

// sameSource reports whether a and b follow the same pods through the same client.
func sameSource(a, b *Arguments) bool {
	return slices.Equal(a.informerKeys(), b.informerKeys()) && reflect.DeepEqual(a.ClientArgs, b.ClientArgs)
}

// checkHealth reports why the component cannot do its job: the API server unreachable, the
// pod list refused, or pods/log refused.
func (c *Component) checkHealth(src *source, srcErr error, r *reconciler) {
	switch {
	case srcErr != nil:
		c.opts.Health.Set(pipeline.HealthUnhealthy, srcErr.Error())
	case src == nil:
		c.opts.Health.Set(pipeline.HealthStarting, "")
	case !src.synced():
		if err := src.lastError(); err != nil {
			c.opts.Health.Set(pipeline.HealthUnhealthy, "listing pods: "+err.Error())
		} else {
			c.opts.Health.Set(pipeline.HealthStarting, "listing pods")
		}
	default:
		if n, err := r.refusals(); n > 0 {
			c.opts.Health.Set(pipeline.HealthUnhealthy, fmt.Sprintf("the API server refuses the logs of %d containers (RBAC needs get on pods/log): %v", n, err))
			return
		}
		c.opts.Health.Set(pipeline.HealthHealthy, "")
	}
}
