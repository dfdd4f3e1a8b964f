// Package remotewrite implements the prometheus.remote_write component: samples appended to
// it are written to a write-ahead log on disk (the Prometheus agent WAL format) and sent from
// there to one or more remote-write 1.0 receivers (endpoints), each by a fixed number of
// shards, with retries.
//
// Data flow: Appendable (appender.go) → WAL segments (wal.go) → per endpoint (endpoint.go):
// a reader tailing the WAL from the endpoint's acknowledged marker (reader.go, marker.go) →
// shards (queue.go, shard.go) → HTTP (client.go). Truncation and the WAL bounds live in
// truncate.go: the WAL is truncated up to the slowest endpoint, which the bounds may move
// past its unsent data (dropped, counted for it). Metadata goes its own way (metadata.go).
//
// Guarantees:
//   - What was committed and not acknowledged by an endpoint (2xx) or definitively
//     rejected (other 4xx, counted) is sent to it after a restart or a crash
//     (at-least-once). Endpoints do not wait for each other: a slow or unreachable one
//     falls behind in the WAL (up to wal.max_age and wal.max_size) while the others go on.
//   - It is ready (pipeline.Readier) once its WAL is open and replayed: the controller
//     starts the components that send to it only then, so none of their appends is refused.
//   - After a graceful stop nothing is sent twice: the marker holds, besides the position
//     before which everything is done, the last acknowledged sample of each shard (unless
//     the shard count changes, or a request in flight outlives its grace at stop).
//   - After the process is killed, only the requests in flight are sent again: the marker
//     is saved after every acknowledged batch (marker.latest, written in place without
//     fsync, which a killed process leaves intact) and fsynced every 5 s (marker, which
//     a power loss leaves intact: then up to 5 s of acknowledged batches is re-sent).
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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/pipeline"
)

// Registration declares the prometheus.remote_write component.
var Registration = pipeline.Register("prometheus.remote_write", DefaultArguments, New, pipeline.KindMetrics)

const (
	// markerInterval is how often the acknowledged marker is fsynced at most while running.
	// It bounds only what a power loss sends twice (marker.latest, written after every
	// acknowledgement, covers a crash), and the fsync, with the temporary file and the
	// rename around it, was 3% of the agent's CPU at once a second (100k series every 10 s).
	markerInterval = 5 * time.Second
	// relieveInterval is how often a full disk is relieved of what is acknowledged.
	relieveInterval = time.Second
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
// Lifecycle: New checks the arguments; Run opens and replays the WAL, starts a sender per
// endpoint, reports itself ready, truncates and, when its context ends, stops accepting
// appends, flushes every endpoint while its receiver accepts until the flush deadline
// (pipeline.FlushContext), persists the markers and closes the WAL. Update may be called at
// any time; a changed endpoint (or external labels) restarts that sender (not the WAL) from
// its acknowledged marker, an endpoint added starts from its marker if it has one, one
// removed stops and keeps its marker; WAL bound changes apply at the next truncation.
type Component struct {
	opts   pipeline.Options
	logger *slog.Logger
	m      *metrics
	health *endpointsHealth

	args *pipeline.Latest[*Arguments] // Update stores, Run loads and waits on Changed

	running atomic.Bool
	wal     atomic.Pointer[walStorage]
	eps     atomic.Pointer[[]*endpoint] // the endpoints sending now, for DebugInfo

	ready     chan struct{} // closed once the WAL is open and replayed (or Run ended)
	readyOnce sync.Once

	// sleep waits between retries; tests replace it to observe backoffs.
	sleep func(context.Context, time.Duration) error
	// reshardInterval is how often the shard counts are reconsidered (0: reshardInterval).
	reshardInterval time.Duration
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
		health: newEndpointsHealth(opts.Health),
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

// endpoints returns the endpoints sending now (nil while not running).
func (c *Component) endpoints() []*endpoint {
	if p := c.eps.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *Component) setEndpoints(eps []*endpoint) {
	if eps == nil {
		c.eps.Store(nil)
		return
	}
	c.eps.Store(&eps)
}

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
	eps, _, err := c.reconcile(w, nil, nil, args)
	if err != nil {
		w.closeAppends()
		return errors.Join(err, w.close())
	}
	c.wal.Store(w)
	c.setEndpoints(eps)
	c.setReady()
	c.opts.Health.Set(pipeline.HealthHealthy, "")
	c.logger.Info("started", "endpoints", len(eps))

	truncTicker := time.NewTicker(time.Duration(args.WAL.TruncateFrequency))
	defer truncTicker.Stop()
	relieveTicker := time.NewTicker(relieveInterval)
	defer relieveTicker.Stop()
	lastPersist := time.Now()
	reshardEvery := c.reshardInterval
	if reshardEvery <= 0 {
		reshardEvery = reshardInterval
	}
	reshardTicker := time.NewTicker(reshardEvery)
	defer reshardTicker.Stop()
	persist := func() {
		for _, ep := range eps {
			c.persist(ep)
		}
	}
	w.updateGauges()

	shutdown := func(fctx context.Context) error {
		w.closeAppends()
		var wg sync.WaitGroup
		for _, ep := range eps {
			wg.Go(func() {
				if fctx != nil {
					ep.snd.flush(fctx)
				} else {
					ep.snd.stop()
				}
			})
		}
		wg.Wait()
		for _, ep := range eps {
			last := ep.snd.marker()
			if err := ep.store.close(last); err != nil {
				c.logger.Error("persist marker", "endpoint", ep.name, "err", err)
			}
			c.logger.Info("stopped", "endpoint", ep.name, "acked_segment", last.Acked.Segment, "acked_offset", last.Acked.Offset)
		}
		c.wal.Store(nil)
		c.setEndpoints(nil)
		return w.close()
	}

	for {
		select {
		case <-ctx.Done():
			fctx, cancel := flushContext(ctx)
			err := shutdown(fctx)
			cancel()
			c.opts.Health.Set(pipeline.HealthStopped, "")
			return err

		case now := <-relieveTicker.C:
			if now.Sub(lastPersist) >= markerInterval-relieveInterval/2 {
				persist()
				lastPersist = now
			}
			w.relieve(slowest(eps), persist) // a full disk: free what is acknowledged now

		case now := <-reshardTicker.C:
			next := slices.Clone(eps) // DebugInfo may be reading eps
			for i, ep := range eps {
				if next[i], err = c.reshard(w, ep, args.ExternalLabels, now); err != nil {
					return errors.Join(err, shutdown(nil))
				}
			}
			eps = next
			c.setEndpoints(eps)

		case <-truncTicker.C:
			persist()
			if eps, err = c.maintain(w, eps, args); err != nil {
				return errors.Join(err, shutdown(nil))
			}
			c.setEndpoints(eps)
			persist()

		case <-c.args.Changed():
			next := c.currentArgs()
			var applied bool
			if eps, applied, err = c.reconcile(w, eps, args, next); err != nil {
				return errors.Join(err, shutdown(nil))
			}
			if !applied {
				next = args
			}
			c.setEndpoints(eps)
			if next.WAL.TruncateFrequency != args.WAL.TruncateFrequency {
				truncTicker.Reset(time.Duration(next.WAL.TruncateFrequency))
			}
			args = next
		}
	}
}

// slowest returns the acknowledged segment of the endpoint furthest behind: nothing from it
// on may be deleted.
func slowest(eps []*endpoint) int {
	acked := math.MaxInt
	for _, ep := range eps {
		acked = min(acked, ep.snd.marker().Acked.Segment)
	}
	return acked
}

// reconcile makes the endpoints sending (eps, configured by old; both nil at start) those
// of next: an endpoint whose settings (or the external labels) changed restarts from its
// marker; one removed stops and keeps its marker; one added starts from its own. It returns
// the endpoints in configuration order. When an endpoint of next cannot send at all (its
// HTTP client cannot be built: a TLS file is missing), nothing changes and applied is false;
// at start that is an error.
func (c *Component) reconcile(w *walStorage, eps []*endpoint, old, next *Arguments) (_ []*endpoint, applied bool, _ error) {
	cfgs := next.endpoints()
	for _, cfg := range cfgs {
		if _, err := newClient(cfg, protoV1); err != nil {
			if eps == nil {
				return nil, false, fmt.Errorf("endpoint %s: %w", cfg.name(), err)
			}
			c.logger.Error("apply new endpoints, keeping the old ones", "endpoint", cfg.name(), "err", err)
			return eps, false, nil
		}
	}
	type id struct{ name, base string }
	kept := map[id]*endpoint{}
	for _, ep := range eps {
		kept[id{ep.name, ep.base}] = ep
	}
	wanted := map[id]bool{}
	for _, cfg := range cfgs {
		wanted[id{cfg.name(), markerBase(cfg.name(), len(cfgs))}] = true
	}
	// Removed ones first: their markers are saved before an added one may take one over.
	for k, ep := range kept {
		if !wanted[k] {
			c.closeEndpoint(ep)
			delete(kept, k)
		}
	}
	out := make([]*endpoint, 0, len(cfgs))
	for i, cfg := range cfgs {
		ep, ok := kept[id{cfg.name(), markerBase(cfg.name(), len(cfgs))}]
		if !ok {
			ep, err := c.openEndpoint(w, cfg, i, len(cfgs), next.ExternalLabels)
			if err != nil {
				return nil, false, fmt.Errorf("endpoint %s: %w", cfg.name(), err)
			}
			out = append(out, ep)
			continue
		}
		if reflect.DeepEqual(ep.cfg, cfg) && reflect.DeepEqual(old.ExternalLabels, next.ExternalLabels) {
			out = append(out, ep)
			continue
		}
		ep.snd.stop()
		c.persist(ep)
		restarted := *ep
		if cfg.URL.String() != ep.cfg.URL.String() || cfg.ProtobufMessage != ep.cfg.ProtobufMessage {
			restarted.neg = newNegotiation(cfg, ep.m) // another receiver: ask it again
		}
		snd, err := c.newSender(w, &restarted, cfg, next.ExternalLabels, ep.snd.marker())
		if err != nil {
			return nil, false, fmt.Errorf("endpoint %s: %w", ep.name, err)
		}
		c.logger.Info("endpoint settings updated, sender restarted", "endpoint", ep.name, "url", cfg.URL.Redacted())
		restarted.cfg, restarted.snd = cfg, snd
		snd.start()
		out = append(out, &restarted)
	}
	return out, true, nil
}

// flushContext is pipeline.FlushContext ending stopMargin (at most a tenth of the time
// left) before the deadline, so that the marker is saved and the WAL closed by then.
func flushContext(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := pipeline.FlushContext(ctx)
	deadline, _ := fctx.Deadline()
	sctx, scancel := context.WithDeadline(fctx, deadline.Add(-min(stopMargin, time.Until(deadline)/10)))
	return sctx, func() { scancel(); cancel() }
}

func (c *Component) newSender(w *walStorage, ep *endpoint, cfg EndpointConfig, ext map[string]string, start marker) (*sender, error) {
	return newSender(senderOptions{
		logger: c.logger.With("endpoint", ep.name), m: ep.m, health: c.health.of(ep.name), w: w, cfg: cfg, ext: ext,
		start: start, sleep: c.sleep, status: ep.status, neg: ep.neg, store: ep.store, bufferIdle: c.bufferIdle,
		shards: ep.shards,
	})
}

// loadMarker reads the endpoint's acknowledged marker (the idx-th endpoint) and fits it to
// the segments on disk. Without a usable marker everything in the WAL is sent
// (at-least-once).
func (c *Component) loadMarker(w *walStorage, ep *endpoint, idx int) marker {
	segs, err := w.segments()
	first, last := 0, 0
	if err == nil && len(segs) > 0 {
		first, last = segs[0].index, segs[len(segs)-1].index
	}
	oldest := marker{Endpoint: ep.name, Acked: walPos{Segment: first}}
	m, err := c.readMarker(ep, idx)
	switch {
	case errors.Is(err, os.ErrNotExist):
		c.logger.Info("no marker, sending the WAL from its oldest segment", "endpoint", ep.name, "segment", first)
		return oldest
	case err != nil:
		c.logger.Warn("marker unreadable, sending the WAL from its oldest segment", "endpoint", ep.name, "segment", first, "err", err)
		return oldest
	case m.Acked.Segment > last:
		c.logger.Warn("marker points past the WAL, sending the WAL from its oldest segment",
			"endpoint", ep.name, "marker_segment", m.Acked.Segment, "last_segment", last)
		return oldest
	case m.Acked.Segment < first:
		// Segments up to the marker were truncated after it was written: all sent.
		m.Acked = walPos{Segment: first}
	}
	m.Endpoint = ep.name
	return m
}

// maintain runs every truncate_frequency: it starts a new segment if the current one is
// old, drops the data of segments beyond wal.max_age and wal.max_size that endpoints have
// not sent (restarting their senders past it, counted per endpoint), and deletes the
// segments every endpoint has acknowledged. It returns the endpoints, restarted ones
// replaced (in a new slice: DebugInfo may be reading eps).
func (c *Component) maintain(w *walStorage, eps []*endpoint, args *Arguments) ([]*endpoint, error) {
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
	// A bound that only asks for acknowledged segments makes truncation happen now.
	force := max(ageKeep, sizeKeep) > math.MinInt
	eps = slices.Clone(eps)
	for i, ep := range eps {
		if max(ageKeep, sizeKeep) <= ep.snd.marker().Acked.Segment {
			continue
		}
		ns, err := c.dropUnsent(w, ep, ageKeep, sizeKeep, args.ExternalLabels)
		if err != nil {
			return eps, err
		}
		restarted := *ep
		restarted.snd = ns
		eps[i] = &restarted
	}
	if err := w.truncate(slowest(eps), idle, force); err != nil {
		c.logger.Error("truncate WAL", "err", err)
	}
	c.pruneMetadata(w)
	return eps, nil
}

// dropUnsent moves ep's marker past the segments before ageKeep and sizeKeep, which must
// go: it stops the sender, counts what it had not sent, saves the marker and returns a
// sender started from there.
func (c *Component) dropUnsent(w *walStorage, ep *endpoint, ageKeep, sizeKeep int, ext map[string]string) (*sender, error) {
	ep.snd.stop()
	m := ep.snd.marker()
	from := m
	for _, b := range []struct {
		keep   int
		reason string
	}{{ageKeep, reasonMaxAge}, {sizeKeep, reasonMaxSize}} {
		if b.keep <= from.Acked.Segment {
			continue
		}
		n, err := countUnsent(w.dir, from, b.keep)
		if err != nil {
			c.logger.Error("count dropped WAL samples", "endpoint", ep.name, "err", err)
		}
		ep.m.samplesDropped.WithLabelValues(b.reason).Add(float64(n))
		c.logger.Warn("WAL bound exceeded, dropping unsent data", "endpoint", ep.name, "bound", b.reason,
			"from_segment", from.Acked.Segment, "to_segment", b.keep-1, "samples", n)
		from.Acked = walPos{Segment: b.keep}
	}
	m.Acked = from.Acked
	if err := ep.store.saveDurable(m); err != nil {
		c.logger.Error("persist marker", "endpoint", ep.name, "err", err)
	}
	ns, err := c.newSender(w, ep, ep.cfg, ext, m)
	if err != nil {
		return nil, fmt.Errorf("restart sender of endpoint %s: %w", ep.name, err)
	}
	ns.start()
	return ns, nil
}

// pruneMetadata forgets the metadata of metric names whose series are all gone from the
// series table (collected by the truncation).
func (c *Component) pruneMetadata(w *walStorage) {
	w.meta.prune(w.table.liveNames())
}
