package remotewrite

import (
	"context"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/record"

	"github.com/sondehq/sonde/internal/httppush"
)

// queuedSample is one sample on its way to the receiver.
type queuedSample struct {
	s   *memSeries
	out *relabelled // the labels to send when the endpoint relabels; nil: s's and the external labels
	st  int64       // start (created) timestamp; 0: none (2.0 only)
	t   int64
	v   float64
	rec *recEntry // the WAL record it was read from
	idx int32     // its index in that record
	x   *extra    // a native histogram or an exemplar instead of the float sample v; nil: none
}

// extra is what a queued entry carries when it is not a float sample: one of its fields
// is set. Histograms and exemplars are rare next to samples, so they cost a pointer.
type extra struct {
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
	ex *record.RefExemplar // the exemplar: T, V and Labels
}

// sender is the read side: a WAL reader feeding fixed shards that batch, send and retry.
// It can be stopped at any moment and started again from its marker: what was not
// acknowledged is read again. The component replaces it when the endpoint or queue changes.
type sender struct {
	logger *slog.Logger
	m      *endpointMetrics
	health healthSetter
	w      *walStorage
	// clients post requests, by protocol (nil for one the endpoint never speaks).
	clients [2]*httppush.Client
	neg     *negotiation
	url     string   // redacted
	rawURL  *url.URL // for redacting error messages
	status  *httppush.Status
	cfg     QueueConfig
	meta    MetadataConfig
	ext     []prompb.Label // external labels, sorted by name
	sleep   func(context.Context, time.Duration) error
	// bufferIdle is how long a shard keeps request buffers larger than its batches need.
	bufferIdle time.Duration
	tracker    tracker
	shards     []*shard
	reader     *walReader
	relabel    *relabeller   // nil: no write_relabel_configs
	store      *markerStore  // nil: acknowledgements are not persisted by the sender
	acks       chan struct{} // signalled (coalesced) after each acknowledged batch

	ctx    context.Context
	cancel context.CancelFunc
	// reqCtx is what requests are sent under: it outlives ctx by inflightGrace (bounded by
	// the flush deadline), so that a request the receiver is answering is not cut off.
	reqCtx    context.Context
	reqCancel context.CancelFunc
	persisted chan struct{} // closed when the marker-saving goroutine has ended
	drain     chan struct{} // closed: the reader stops at the end of the WAL and closes the shards
	abort     chan struct{} // closed by a shard whose send failed during the final flush
	abortMu   sync.Once
	flushing  atomic.Bool
	// partialLogged is set once a partial write was logged as a warning.
	partialLogged atomic.Bool
	failing       atomic.Int32   // shards whose current batch has failed and not yet succeeded
	wg            sync.WaitGroup // the reader and the shards
	metaWG        sync.WaitGroup // the metadata sender, which a flush does not wait for
	pending       atomic.Int64
	// busyNanos (time spent encoding and in requests, all shards) and done (samples
	// acknowledged or dropped for good) measure the shards' throughput for the scaler.
	busyNanos atomic.Int64
	done      atomic.Int64
}

// load reports what the scaler needs.
func (s *sender) load() shardLoad {
	return shardLoad{busyNanos: s.busyNanos.Load(), done: s.done.Load(), failing: s.failing.Load() > 0}
}

type senderOptions struct {
	logger *slog.Logger
	m      *endpointMetrics
	health healthSetter
	w      *walStorage
	cfg    EndpointConfig
	ext    map[string]string // external labels
	start  marker
	sleep  func(context.Context, time.Duration) error
	status *httppush.Status // nil: a fresh one
	neg    *negotiation     // the endpoint's protocol; nil: a fresh one
	store  *markerStore     // where acknowledgements are persisted as they come; nil: not
	// bufferIdle: see sender.bufferIdle; 0 means defaultBufferIdle.
	bufferIdle time.Duration
	// shards is how many shards to run; 0: cfg.Queue.Shards.
	shards int
}

// defaultBufferIdle is how long a shard keeps request buffers that its batches no longer
// need (see shard.releaseIdleBuffers).
const defaultBufferIdle = time.Minute

func newSender(o senderOptions) (*sender, error) {
	cl, err := newClients(o.cfg)
	if err != nil {
		return nil, err
	}
	if o.neg == nil {
		o.neg = newNegotiation(o.cfg, o.m)
	}
	q := o.cfg.Queue
	s := &sender{
		logger:  o.logger,
		m:       o.m,
		health:  o.health,
		w:       o.w,
		clients: cl,
		neg:     o.neg,
		url:     o.cfg.URL.Redacted(),
		rawURL:  o.cfg.URL.URL,
		status:  o.status,
		cfg:     q,
		meta:    o.cfg.Metadata,
		ext:     externalLabels(o.ext),
		sleep:   o.sleep,
		drain:   make(chan struct{}),
		abort:   make(chan struct{}),
		store:   o.store,
		acks:    make(chan struct{}, 1),
	}
	if s.sleep == nil {
		s.sleep = sleepCtx
	}
	if len(o.cfg.WriteRelabelConfigs) > 0 {
		s.relabel = newRelabeller(o.cfg.WriteRelabelConfigs, s.ext)
	}
	s.bufferIdle = o.bufferIdle
	if s.bufferIdle <= 0 {
		s.bufferIdle = defaultBufferIdle
	}
	if s.status == nil {
		s.status = &httppush.Status{}
	}
	s.tracker.acked = o.start.Acked
	n := o.shards
	if n == 0 {
		n = q.Shards
	}
	s.shards = make([]*shard, n)
	for i := range s.shards {
		s.shards[i] = &shard{s: s, in: newSampleQueue(q.Capacity, min(q.MaxSamplesPerSend, q.Capacity))}
		if len(o.start.Shards) == n {
			s.shards[i].acked = o.start.Shards[i]
		}
	}
	s.reader = newWALReader(s, o.start)
	return s, nil
}

func externalLabels(m map[string]string) []prompb.Label {
	out := make([]prompb.Label, 0, len(m))
	for k, v := range m {
		out = append(out, prompb.Label{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *sender) start() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.reqCtx, s.reqCancel = context.WithCancel(context.Background())
	s.persisted = make(chan struct{})
	go func() {
		defer close(s.persisted)
		s.persistAcks(s.ctx)
	}()
	s.m.shards.Set(float64(len(s.shards)))
	s.wg.Add(1 + len(s.shards))
	go func() {
		defer s.wg.Done()
		s.reader.run(s.ctx)
	}()
	for _, sh := range s.shards {
		go func() {
			defer s.wg.Done()
			sh.run(s.ctx)
		}()
	}
	if s.meta.Send && s.clients[protoV1] != nil { // 2.0 only: metadata goes inline
		s.metaWG.Go(func() { s.sendMetadataLoop(s.ctx) })
	}
}

// stop ends the sender at once: requests in flight get inflightGrace to complete;
// unacknowledged samples stay in the WAL. It may be called more than once.
func (s *sender) stop() { s.stopBy(time.Time{}) }

// stopBy is stop with the grace of requests in flight ending at deadline at the latest
// (zero: no deadline).
func (s *sender) stopBy(deadline time.Time) {
	if s.cancel == nil {
		return // never started
	}
	s.cancel()
	grace := inflightGrace
	if !deadline.IsZero() {
		grace = min(grace, time.Until(deadline))
	}
	t := time.AfterFunc(max(grace, 0), s.reqCancel)
	s.wg.Wait()
	s.metaWG.Wait()
	t.Stop()
	s.reqCancel()
	<-s.persisted
	for _, cl := range s.clients {
		if cl != nil {
			cl.CloseIdleConnections()
		}
	}
	s.m.pendingSamples.Sub(float64(s.pending.Swap(0)))
}

// flush reads the WAL to its end and sends everything, until ctx (the component's flush
// context) ends and only while the receiver accepts; then it stops, requests in flight
// ending with ctx at the latest. Commits must be closed before.
func (s *sender) flush(ctx context.Context) {
	deadline, _ := ctx.Deadline()
	s.flushing.Store(true)
	if s.failing.Load() > 0 {
		s.logger.Warn("receiver is failing, not flushing: the rest stays in the WAL for the next start")
		s.stopBy(deadline)
		return
	}
	close(s.drain)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.logger.Warn("flush deadline reached, the rest stays in the WAL for the next start")
	case <-s.abort:
		s.logger.Warn("receiver failed during flush, the rest stays in the WAL for the next start")
	}
	s.stopBy(deadline)
}

// acked is called by a shard after each batch acknowledged or dropped for good.
func (s *sender) acked() {
	select {
	case s.acks <- struct{}{}:
	default: // a save is pending: it will include this batch
	}
}

// persistAcks saves the marker after acknowledgements, until ctx ends. Saves are coalesced:
// the acknowledgements that come while one is written are saved together by the next.
func (s *sender) persistAcks(ctx context.Context) {
	if s.store == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.acks:
			if err := s.store.saveLatest(s.marker()); err != nil {
				s.logger.Error("persist marker", "err", err)
			}
		}
	}
}

func (s *sender) abortFlush() {
	s.abortMu.Do(func() { close(s.abort) })
}

// marker returns what is acknowledged so far.
func (s *sender) marker() marker {
	m := marker{Endpoint: s.m.name, Acked: s.tracker.position(), Shards: make([]samplePos, len(s.shards))}
	for i, sh := range s.shards {
		sh.mu.Lock()
		m.Shards[i] = sh.acked
		sh.mu.Unlock()
	}
	return m
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
