// Package file implements loki.source.file: it tails the files matched by globs (static or
// from targets' __path__), decodes CRI, Docker json-file or raw lines, labels them (from the
// targets, the kubelet's /var/log/pods layout, static labels and the stream) and sends them
// in acknowledged batches to forward_to.
//
// Files are followed by identity (device, inode and a fingerprint of their first bytes), so
// rotations lose and repeat nothing; a rotated file is drained before it is let go. A file's
// position is committed only once every batch carrying its earlier lines is acknowledged,
// and the positions file is rewritten atomically every sync_period: after a crash, lines
// are sent again at most once, never lost.
//
// Goroutines, all owned by Run: the reconciler (Run itself: targets, globs, poll), the
// fsnotify loop, a few readers that read whichever files were woken, the batcher (the only
// one sending downstream) and the positions syncer.
package file

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/internal/logbatch"
	"github.com/sondehq/sonde/internal/positions"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares loki.source.file.
var Registration = pipeline.Register("loki.source.file", DefaultArguments, New)

// rescanDelay coalesces the bursts of directory events a rotation or a new pod produces
// into one reconcile.
const rescanDelay = 50 * time.Millisecond

// rootPollInterval is how often a glob root that does not exist is looked for, besides the
// watch on the directory above it (which may miss a root made in several steps, and does
// not exist where fsnotify is unavailable): one stat per missing root.
const rootPollInterval = 250 * time.Millisecond

// Component is a running loki.source.file.
//
// Update stores new arguments and signals Run, which applies them: the reconciler is the
// only goroutine that changes the set of trackers. Settings are read through an atomic
// pointer by the readers and the batcher.
type Component struct {
	opts    pipeline.Options
	metrics *metrics

	args *pipeline.Latest[*Arguments] // Update stores, Run loads and waits on Changed

	cfg     atomic.Pointer[settings]
	rescanC chan struct{} // signalled (coalesced) by fsnotify events

	// Set up by Run.
	table   *table
	manager *manager
	batcher *logbatch.Batcher[int64]
	watches *watches
	running atomic.Pointer[runState] // manager and table for DebugInfo while Run runs

	// Owned by Run (the reconciler).
	round         uint64
	first         bool // the first reconcile after start: start_at applies
	positionsLost bool // the positions file could not be read: start_at end is ignored once
	warned        map[string]struct{}
	ignored       map[fileID]struct{} // rotations found at start-up without a position
	expander      *expander
	pods          pods                  // the pod cache for pod_labels and pod_annotations
	held          map[*tracker]*podHold // files waiting for their pod before their first read
	podsC         chan struct{}         // signalled (coalesced) when a pod enters the cache
	unsyncedWarn  bool                  // the cache's late initial list was logged
	missingRoots  []string              // glob roots that did not exist at the last reconcile

	// savedAt is when the positions file was last written before this start (zero: there
	// was none, sonde starts for the first time), and savedStreams the streams
	// (rotationBase of their paths) it holds positions of: what was on disk when sonde last
	// ran, for telling rotations made while it was stopped from older ones.
	savedAt      time.Time
	savedStreams map[string]struct{}
	started      time.Time           // when Run started, by the filesystem's clock (fsNow)
	streams      map[string]struct{} // the streams (rotationBase) wanted at the last reconcile
	// unsettled are the positions read from the positions file whose stream was not
	// matched yet: when it is, those whose file is gone are looked for among its compressed
	// rotations (see recoverCompressed).
	unsettled []*position

	// pollOnly turns fsnotify off (tests in a testing/synctest bubble: a goroutine blocked
	// reading inotify events would keep the bubble's clock from advancing).
	pollOnly bool
	// flushTimeout, when set, shortens the flush at stop (tests run without a controller,
	// whose deadline would otherwise be pipeline.DefaultFlushTimeout).
	flushTimeout time.Duration

	saveMu      sync.Mutex // serialises writes of the positions file
	saveFailing bool       // guarded by saveMu: log a failing write once per streak
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds a loki.source.file component; it starts nothing.
func New(opts pipeline.Options, a *Arguments) (*Component, error) {
	c := &Component{
		opts:     opts,
		args:     pipeline.NewLatest(a),
		rescanC:  make(chan struct{}, 1),
		warned:   map[string]struct{}{},
		first:    true,
		expander: newExpander(),
		pods:     pods{open: kubePods(opts.Kube)},
		held:     map[*tracker]*podHold{},
		podsC:    make(chan struct{}, 1),
	}
	c.metrics = newMetrics(c.unreadBytes)
	c.pods.added = c.podAdded
	c.cfg.Store(newSettings(a))
	if err := c.metrics.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}

// Update implements pipeline.Updater: new globs and labels apply at the next reconcile
// (at once), a new format or bound to each file at its next read, batching at the next
// batch.
func (c *Component) Update(a *Arguments) error {
	c.cfg.Store(newSettings(a))
	c.args.Store(a)
	return nil
}

func (c *Component) settings() *settings { return c.cfg.Load() }

func (c *Component) currentArgs() *Arguments { return c.args.Load() }

// rescan asks Run for a reconcile soon.
func (c *Component) rescan() {
	select {
	case c.rescanC <- struct{}{}:
	default:
	}
}

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	if err := os.MkdirAll(c.opts.DataPath, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	posPath := filepath.Join(c.opts.DataPath, positionsFile)
	c.table = newTable(c.loadPositions(posPath))
	c.unsettled = c.table.restoredPositions()
	c.started = fsNow(c.opts.DataPath)
	c.manager = newManager()
	clear(c.held)
	c.batcher = c.newBatcher(c.table)
	c.watches = newWatches(c.opts.Logger, c.metrics, c.pollOnly)
	c.running.Store(&runState{manager: c.manager, table: c.table})

	args := c.currentArgs()
	c.syncPods(args)
	defer c.pods.close()
	c.batcher.SetReceiver(c.opts.Host.Logs(args.ForwardTo))
	forwardTo := slices.Clone(args.ForwardTo)
	var (
		view    pipeline.TargetsView
		viewIDs []string
	)
	setView := func(ids []string) {
		if view != nil {
			view.Close()
			view = nil
		}
		if len(ids) > 0 {
			view = c.opts.Host.Targets(ids)
		}
		viewIDs = slices.Clone(ids)
	}
	setView(args.Targets)
	targets := func() pipeline.Targets {
		if view == nil {
			return nil
		}
		return view.Get()
	}
	changed := func() <-chan struct{} {
		if view == nil {
			return nil
		}
		return view.Changed()
	}

	inner, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.batcher.Run(inner) })
	wg.Go(func() { c.watches.run(inner, c.manager, c.rescan) })
	wg.Go(func() { c.syncLoop(inner, posPath) })
	for range readers() {
		r := newReader(c)
		wg.Go(func() { r.run(inner) })
	}
	defer func() {
		// Reading stops first; then the batches already read are delivered and their
		// acknowledgements awaited (forward_to still runs: the controller stops it after its
		// sources), and only then are the positions saved, once.
		cancel()
		c.watches.close()
		wg.Wait()
		c.running.Store(nil)
		c.manager.closeAll()
		clear(c.held)
		c.metrics.podWaiting.Set(0)
		c.metrics.filesActive.Set(0)
		fctx, fcancel := c.flushContext(ctx)
		c.batcher.Finish(fctx)
		fcancel()
		c.savePositions(posPath, true)
		if view != nil {
			view.Close()
		}
		c.opts.Logger.Info("stopped tailing")
	}()

	c.reconcile(targets())
	c.savePositions(posPath, true) // where files found at start-up begin, before any crash
	c.opts.Health.Set(pipeline.HealthHealthy, "")
	c.opts.Logger.Info("tailing", "files", c.manager.count(), "readers", readers())

	poll := time.NewTicker(c.settings().pollInterval)
	defer poll.Stop()
	pollEvery := c.settings().pollInterval
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	armed := false
	podTimer := time.NewTimer(time.Hour)
	defer podTimer.Stop()
	rootTick := time.NewTicker(rootPollInterval)
	rootTick.Stop()
	defer rootTick.Stop()
	rootPolling := false
	for {
		// While files wait for their pods, wake up for the earliest bound and to look again.
		if d, ok := c.nextPodCheck(time.Now()); ok {
			podTimer.Reset(d)
		} else {
			podTimer.Stop()
		}
		// While a glob's root does not exist, look for it often.
		if missing := len(c.missingRoots) > 0; missing != rootPolling {
			if rootPolling = missing; missing {
				rootTick.Reset(rootPollInterval)
			} else {
				rootTick.Stop()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-rootTick.C:
			if slices.ContainsFunc(c.missingRoots, isDir) {
				c.reconcile(targets())
			}
		case <-changed():
			c.reconcile(targets())
		case <-c.rescanC:
			if !armed {
				armed = true
				debounce.Reset(rescanDelay)
			}
		case <-debounce.C:
			armed = false
			c.reconcile(targets())
		case <-poll.C:
			c.reconcile(targets())
			c.manager.wakeAll()
		case <-c.podsC:
			c.checkHeld(time.Now())
		case <-podTimer.C:
			c.checkHeld(time.Now())
		case <-c.args.Changed():
			args := c.currentArgs()
			if !slices.Equal(forwardTo, args.ForwardTo) {
				c.batcher.SetReceiver(c.opts.Host.Logs(args.ForwardTo))
				forwardTo = slices.Clone(args.ForwardTo)
			}
			if !slices.Equal(viewIDs, args.Targets) {
				setView(args.Targets)
			}
			c.syncPods(args)
			if p := c.settings().pollInterval; p != pollEvery {
				poll.Reset(p)
				pollEvery = p
			}
			c.reconcile(targets())
			c.manager.wakeAll() // readers pick up a new format or bound
			c.opts.Logger.Info("arguments updated", "files", c.manager.count())
		}
	}
}

// flushContext is pipeline.FlushContext, shortened to flushTimeout when set.
func (c *Component) flushContext(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := pipeline.FlushContext(ctx)
	if c.flushTimeout <= 0 {
		return fctx, cancel
	}
	tctx, tcancel := context.WithTimeout(fctx, c.flushTimeout)
	return tctx, func() { tcancel(); cancel() }
}

// syncPods opens the pod cache when pod metadata is asked for. Without it files are tailed
// all the same, without the pod metadata.
func (c *Component) syncPods(a *Arguments) {
	if err := c.pods.sync(a); err != nil {
		c.opts.Logger.Warn("cannot open the pod cache; files are tailed without pod labels and annotations", "err", err)
	}
}

// newBatcher returns the batcher that sends what the readers read and commits the
// positions of tbl as batches are acknowledged.
func (c *Component) newBatcher(tbl *table) *logbatch.Batcher[int64] {
	return logbatch.New(logbatch.Config[int64]{
		Limits: func() (int, time.Duration) {
			s := c.settings()
			return s.batchSize, s.batchWait
		},
		Less:      cmp.Less[int64],
		Committed: func() { tbl.dirty.Store(true) },
		Metrics: logbatch.Metrics{
			EntriesSent: c.metrics.entriesSent, BatchesSent: c.metrics.batchesSent, BatchesAcked: c.metrics.batchesAcked,
			Oversized: c.metrics.oversized,
		},
		Logger: c.opts.Logger,
	})
}

// readers is how many files are read in parallel.
func readers() int { return min(runtime.GOMAXPROCS(0), 4) }

// loadPositions reads the positions file. Whatever cannot be read is logged and counted,
// never fatal; files whose position is lost are then read from their beginning, even with
// start_at: end (duplicates rather than loss).
func (c *Component) loadPositions(path string) []savedPosition {
	positions.RemoveStale(path)
	c.savedAt, c.savedStreams = time.Time{}, map[string]struct{}{}
	if fi, err := os.Stat(path); err == nil {
		c.savedAt = fi.ModTime()
	}
	entries, bad, err := positions.Load[savedPosition](path)
	for _, e := range entries {
		c.savedStreams[rotationBase(e.Path)] = struct{}{}
	}
	if bad > 0 {
		c.metrics.positionsBad.Add(float64(bad))
		c.positionsLost = true
		c.opts.Logger.Warn("positions file partly unreadable; files without a position are read from the start",
			"path", path, "bad_entries", bad, "entries", len(entries))
	}
	if err != nil {
		c.positionsLost = true
		c.opts.Logger.Error("cannot read positions file; every file is read from the start",
			"path", path, "err", err)
		return nil
	}
	return entries
}

// fsNow returns the time the filesystem of dir stamps a file made now. File times come from
// a coarse clock, up to a clock tick (4 ms at 250 Hz) behind time.Now; they are compared
// with file times.
func fsNow(dir string) time.Time {
	f, err := os.CreateTemp(dir, ".now-*")
	if err != nil {
		return time.Now()
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return time.Now()
	}
	return fi.ModTime()
}

// syncLoop writes the positions file every sync_period while anything changed.
func (c *Component) syncLoop(ctx context.Context, path string) {
	period := c.settings().syncPeriod
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.savePositions(path, false)
			c.metrics.filesActive.Set(float64(c.manager.count()))
			if p := c.settings().syncPeriod; p != period {
				tick.Reset(p)
				period = p
			}
		}
	}
}

// savePositions writes the positions file when something changed (or always, with force).
func (c *Component) savePositions(path string, force bool) {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	entries, lag := c.table.snapshot(time.Now())
	c.metrics.lagBytes.Set(float64(lag))
	if !c.table.dirty.Swap(false) && !force {
		return
	}
	if err := positions.Save(path, entries); err != nil {
		c.table.dirty.Store(true)
		c.metrics.positionWrites.WithLabelValues("error").Inc()
		if !c.saveFailing {
			c.saveFailing = true
			c.opts.Logger.Warn("cannot write positions file, will retry", "path", path, "err", err)
		}
		return
	}
	if c.saveFailing {
		c.saveFailing = false
		c.opts.Logger.Info("positions file written again", "path", path)
	}
	c.metrics.positionWrites.WithLabelValues("success").Inc()
}
