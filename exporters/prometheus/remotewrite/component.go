// Package remotewrite implements the prometheus.remote_write component: samples appended to
// it are written to a write-ahead log on disk (the Prometheus agent WAL format) and sent from
// there to a remote-write 1.0 receiver by a fixed number of shards, with retries.
//
// Data flow: Appendable (appender.go) → WAL segments (wal.go) → a reader tailing the WAL
// from the acknowledged marker (reader.go, marker.go) → shards (queue.go, shard.go) → HTTP
// (client.go). Truncation and the WAL bounds live in truncate.go.
//
// Guarantees:
//   - What was committed and not acknowledged by the receiver (2xx) or definitively
//     rejected (other 4xx, counted) is sent after a restart or a crash (at-least-once).
//   - It is ready (pipeline.Readier) once its WAL is open and replayed: the controller
//     starts the components that send to it only then, so none of their appends is refused.
//   - After a graceful stop nothing is sent twice: the marker holds, besides the position
//     before which everything is done, the last acknowledged sample of each shard (unless
//     the shard count changes, or a request in flight outlives its grace at stop).
//   - After the process is killed, only the requests in flight are sent again: the marker
//     is saved after every acknowledged batch (marker.latest, written in place without
//     fsync, which a killed process leaves intact) and fsynced once a second (marker, which
//     a power loss leaves intact: then up to a second of acknowledged batches is re-sent).
//   - At stop, the last sends end at the controller's flush deadline
//     (pipeline.FlushContext); what is not acknowledged by then stays in the WAL.
//   - Per series, timestamps sent never go back or repeat within a run and across graceful
//     restarts: older samples are rejected at append time, a shard sends one batch at a time
//     in WAL order and retries it until it is done.
//   - Retries never give up; while the receiver is down the WAL grows on disk up to
//     wal.max_age and wal.max_size, beyond which the oldest segments are dropped, counted.
package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares the prometheus.remote_write component.
var Registration = pipeline.Register("prometheus.remote_write", DefaultArguments, New, pipeline.KindMetrics)

const (
	// markerInterval is how often the acknowledged marker is fsynced at most.
	markerInterval = time.Second
	// stopMargin is how long before the flush deadline (at most a tenth of the time left)
	// the last sends end at stop, for saving the marker and closing the WAL.
	stopMargin = 500 * time.Millisecond
	// seriesIdleTimeout is how long a series without samples is kept in memory (once all its
	// data is sent). Longer than any sane scrape interval, so that series are not dropped
	// and re-created (with a new series record) between scrapes.
	seriesIdleTimeout = 15 * time.Minute
)

// Component is a running prometheus.remote_write.
//
// Lifecycle: New checks the arguments; Run opens and replays the WAL, reports itself ready,
// sends, truncates and, when its context ends, stops accepting appends, flushes while the
// receiver accepts until the flush deadline (pipeline.FlushContext), persists the marker and
// closes the WAL. Update may be called at any time;// endpoint, queue and external label changes restart the sender (not the WAL) from the
// acknowledged marker, WAL bound changes apply at the next truncation.
type Component struct {
	opts   pipeline.Options
	logger *slog.Logger
	m      *metrics

	args *pipeline.Latest[*Arguments] // Update stores, Run loads and waits on Changed

	running atomic.Bool
	wal     atomic.Pointer[walStorage]
	snd     atomic.Pointer[sender] // the current sender, for DebugInfo
	status  httppush.Status        // how requests fare, for DebugInfo

	ready     chan struct{} // closed once the WAL is open and replayed (or Run ended)
	readyOnce sync.Once

	// sleep waits between retries; tests replace it to observe backoffs.
	sleep func(context.Context, time.Duration) error
	// bufferIdle is how long shards keep request buffers they no longer need (0: a minute);
	// tests shorten it.
	bufferIdle time.Duration
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
	_ pipeline.MetricsReceiver     = (*Component)(nil)
	_ pipeline.Readier             = (*Component)(nil)
)

// New returns a component for validated args and registers its metrics. It starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	if opts.DataPath == "" {
		return nil, errors.New("prometheus.remote_write needs a storage path for its WAL")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Health == nil {
		opts.Health = pipeline.NewHealth()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("prometheus.remote_write: register metrics: %w", err)
	}
	return &Component{
		opts:   opts,
		logger: opts.Logger,
		m:      m,
		args:   pipeline.NewLatest(args),
		ready:  make(chan struct{}),
	}, nil
}

// Ready implements pipeline.Readier: the channel is closed once Run has opened and replayed
// the WAL, from when appends are taken. A Run that fails before closes it too, so that the
// components sending to it are not held back for pipeline.MaxStartWait (their appends are
// refused until the component runs again, as before).
func (c *Component) Ready() <-chan struct{} { return c.ready }

func (c *Component) setReady() { c.readyOnce.Do(func() { close(c.ready) }) }

// Appendable implements pipeline.MetricsReceiver. Appends fail while the component is not
// running (before its WAL is replayed, and once it is stopping).
func (c *Component) Appendable() pipeline.Appendable { return appendable{c: c} }

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	c.args.Store(args)
	return nil
}

func (c *Component) currentArgs() *Arguments { return c.args.Load() }

func (c *Component) markerPath() string { return filepath.Join(c.opts.DataPath, markerFile) }

// Run implements pipeline.Component.
func (c *Component) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("prometheus.remote_write is already running")
	}
	defer c.running.Store(false)
	defer c.setReady()

	args := c.currentArgs()
	w, err := openWAL(filepath.Join(c.opts.DataPath, "wal"), segmentSize(args.WAL.MaxSize), c.logger, c.m)
	if err != nil {
		return err
	}
	store := newMarkerStore(c.opts.DataPath, c.m.markerFails.Inc)
	start := c.loadMarker(w, store)
	snd, err := c.newSender(w, args, start, store)
	if err != nil {
		w.closeAppends()
		return errors.Join(err, w.close())
	}
	c.wal.Store(w)
	snd.start()
	c.snd.Store(snd)
	c.setReady()
	c.opts.Health.Set(pipeline.HealthHealthy, "")
	c.logger.Info("started", "url", args.Endpoint.URL.Redacted(), "shards", args.Endpoint.Queue.Shards,
		"from_segment", start.Acked.Segment, "from_offset", start.Acked.Offset)

	truncTicker := time.NewTicker(time.Duration(args.WAL.TruncateFrequency))
	defer truncTicker.Stop()
	markerTicker := time.NewTicker(markerInterval)
	defer markerTicker.Stop()
	persist := func() {
		if err := store.saveDurable(snd.marker()); err != nil {
			c.logger.Error("persist marker", "err", err)
		}
	}
	w.updateGauges()

	shutdown := func(fctx context.Context) error {
		w.closeAppends()
		if fctx != nil {
			snd.flush(fctx)
		} else {
			snd.stop()
		}
		last := snd.marker()
		merr := store.close(last)
		if merr != nil {
			c.logger.Error("persist marker", "err", merr)
		}
		c.wal.Store(nil)
		c.snd.Store(nil)
		err := w.close()
		c.logger.Info("stopped", "acked_segment", last.Acked.Segment, "acked_offset", last.Acked.Offset)
		return err
	}

	for {
		select {
		case <-ctx.Done():
			fctx, cancel := flushContext(ctx)
			err := shutdown(fctx)
			cancel()
			c.opts.Health.Set(pipeline.HealthStopped, "")
			return err

		case <-markerTicker.C:
			persist()
			w.relieve(snd.marker().Acked.Segment) // a full disk: free what is acknowledged now

		case <-truncTicker.C:
			persist()
			ns, err := c.maintain(w, snd, args, store)
			if err != nil {
				return errors.Join(err, shutdown(nil))
			}
			snd = ns
			c.snd.Store(snd)
			persist()

		case <-c.args.Changed():
			next := c.currentArgs()
			if !reflect.DeepEqual(next.Endpoint, args.Endpoint) || !reflect.DeepEqual(next.ExternalLabels, args.ExternalLabels) {
				snd.stop()
				persist()
				ns, err := c.newSender(w, next, snd.marker(), store)
				if err != nil {
					// Validated, but e.g. a TLS file is missing: keep the old settings.
					c.logger.Error("apply new endpoint, keeping the old one", "err", err)
					if ns, err = c.newSender(w, args, snd.marker(), store); err != nil {
						return errors.Join(err, shutdown(nil))
					}
					next = args
				} else {
					c.logger.Info("arguments updated, sender restarted", "url", next.Endpoint.URL.Redacted())
				}
				snd = ns
				snd.start()
				c.snd.Store(snd)
			}
			if next.WAL.TruncateFrequency != args.WAL.TruncateFrequency {
				truncTicker.Reset(time.Duration(next.WAL.TruncateFrequency))
			}
			args = next
		}
	}
}

// flushContext is pipeline.FlushContext ending stopMargin (at most a tenth of the time
// left) before the deadline, so that the marker is saved and the WAL closed by then.
func flushContext(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := pipeline.FlushContext(ctx)
	deadline, _ := fctx.Deadline()
	sctx, scancel := context.WithDeadline(fctx, deadline.Add(-min(stopMargin, time.Until(deadline)/10)))
	return sctx, func() { scancel(); cancel() }
}

func (c *Component) newSender(w *walStorage, args *Arguments, start marker, store *markerStore) (*sender, error) {
	return newSender(senderOptions{
		logger: c.logger, m: c.m, health: c.opts.Health, w: w, args: args, start: start, sleep: c.sleep,
		status: &c.status, store: store, bufferIdle: c.bufferIdle,
	})
}

// loadMarker reads the acknowledged marker and fits it to the segments on disk. Without a
// usable marker everything in the WAL is sent (at-least-once).
func (c *Component) loadMarker(w *walStorage, store *markerStore) marker {
	segs, err := w.segments()
	first, last := 0, 0
	if err == nil && len(segs) > 0 {
		first, last = segs[0].index, segs[len(segs)-1].index
	}
	oldest := marker{Acked: walPos{Segment: first}}
	m, err := store.load()
	switch {
	case errors.Is(err, os.ErrNotExist):
		c.logger.Info("no marker, sending the WAL from its oldest segment", "segment", first)
		return oldest
	case err != nil:
		c.logger.Warn("marker unreadable, sending the WAL from its oldest segment", "segment", first, "err", err)
		return oldest
	case m.Acked.Segment > last:
		c.logger.Warn("marker points past the WAL, sending the WAL from its oldest segment",
			"marker_segment", m.Acked.Segment, "last_segment", last)
		return oldest
	case m.Acked.Segment < first:
		// Segments up to the marker were truncated after it was written: all sent.
		m.Acked = walPos{Segment: first}
	}
	return m
}

// maintain runs every truncate_frequency: it starts a new segment if the current one is
// old, deletes acknowledged segments, and drops unsent ones beyond wal.max_age and
// wal.max_size (restarting the sender past them). It returns the sender to use.
func (c *Component) maintain(w *walStorage, snd *sender, args *Arguments, store *markerStore) (*sender, error) {
	defer w.updateGauges()
	freq := time.Duration(args.WAL.TruncateFrequency)
	idle := uint32(max(1, (seriesIdleTimeout+freq-1)/freq))
	w.epoch.Add(1)
	if err := w.cutIfOld(freq); err != nil {
		c.logger.Error("start WAL segment", "err", err)
	}
	ageKeep, sizeKeep, err := w.planDrop(time.Now(), time.Duration(args.WAL.MaxAge), int64(args.WAL.MaxSize))
	if err != nil {
		c.logger.Error("check WAL bounds", "err", err)
		ageKeep, sizeKeep = math.MinInt, math.MinInt
	}
	if acked := snd.marker().Acked.Segment; max(ageKeep, sizeKeep) <= acked {
		// A bound that only asks for acknowledged segments makes truncation happen now.
		bound := max(ageKeep, sizeKeep) > math.MinInt
		if err := w.truncate(acked, idle, bound); err != nil {
			c.logger.Error("truncate WAL", "err", err)
		}
		c.pruneMetadata(w)
		return snd, nil
	}

	// Unsent data must go: stop the sender, count what is lost, move the marker past it.
	snd.stop()
	m := snd.marker()
	shards := len(snd.shards)
	from := m
	for _, b := range []struct {
		keep   int
		reason string
	}{{ageKeep, reasonMaxAge}, {sizeKeep, reasonMaxSize}} {
		if b.keep <= from.Acked.Segment {
			continue
		}
		n, err := countUnsent(w.dir, from, b.keep, shards)
		if err != nil {
			c.logger.Error("count dropped WAL samples", "err", err)
		}
		c.m.samplesDropped.WithLabelValues(b.reason).Add(float64(n))
		c.logger.Warn("WAL bound exceeded, dropping unsent data", "bound", b.reason,
			"from_segment", from.Acked.Segment, "to_segment", b.keep-1, "samples", n)
		from.Acked = walPos{Segment: b.keep}
	}
	m.Acked = from.Acked
	if err := store.saveDurable(m); err != nil {
		c.logger.Error("persist marker", "err", err)
	}
	if err := w.truncate(m.Acked.Segment, idle, true); err != nil {
		c.logger.Error("truncate WAL", "err", err)
	}
	c.pruneMetadata(w)
	ns, err := c.newSender(w, args, m, store)
	if err != nil {
		return snd, fmt.Errorf("restart sender: %w", err)
	}
	ns.start()
	return ns, nil
}

// pruneMetadata forgets the metadata of metric names whose series are all gone from the
// series table (collected by the truncation).
func (c *Component) pruneMetadata(w *walStorage) {
	w.meta.prune(w.table.liveNames())
}
