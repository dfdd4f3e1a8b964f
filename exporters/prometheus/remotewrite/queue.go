package remotewrite

import (
	"context"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/pipeline"
)

// queuedSample is one sample on its way to the receiver.
type queuedSample struct {
	s   *memSeries
	t   int64
	v   float64
	rec *recEntry // the WAL record it was read from
	idx int32     // its index in that record
}

// sender is the read side: a WAL reader feeding fixed shards that batch, send and retry.
// It can be stopped at any moment and started again from its marker: what was not
// acknowledged is read again. The component replaces it when the endpoint or queue changes.
type sender struct {
	logger  *slog.Logger
	m       *metrics
	health  *pipeline.Health
	w       *walStorage
	client  *httppush.Client
	url     string   // redacted
	rawURL  *url.URL // for redacting error messages
	status  *httppush.Status
	cfg     QueueConfig
	ext     []prompb.Label // external labels, sorted by name
	sleep   func(context.Context, time.Duration) error
	tracker tracker
	shards  []*shard
	reader  *walReader

	ctx      context.Context
	cancel   context.CancelFunc
	drain    chan struct{} // closed: the reader stops at the end of the WAL and closes the shards
	abort    chan struct{} // closed by a shard whose send failed during the final flush
	abortMu  sync.Once
	flushing atomic.Bool
	failing  atomic.Int32 // shards whose current batch has failed and not yet succeeded
	wg       sync.WaitGroup
	pending  atomic.Int64
}

type senderOptions struct {
	logger *slog.Logger
	m      *metrics
	health *pipeline.Health
	w      *walStorage
	args   *Arguments
	start  marker
	sleep  func(context.Context, time.Duration) error
	status *httppush.Status // nil: a fresh one
}

func newSender(o senderOptions) (*sender, error) {
	cl, err := newClient(o.args.Endpoint)
	if err != nil {
		return nil, err
	}
	q := o.args.Endpoint.Queue
	s := &sender{
		logger: o.logger,
		m:      o.m,
		health: o.health,
		w:      o.w,
		client: cl,
		url:    o.args.Endpoint.URL.Redacted(),
		rawURL: o.args.Endpoint.URL.URL,
		status: o.status,
		cfg:    q,
		ext:    externalLabels(o.args.ExternalLabels),
		sleep:  o.sleep,
		drain:  make(chan struct{}),
		abort:  make(chan struct{}),
	}
	if s.sleep == nil {
		s.sleep = sleepCtx
	}
	if s.status == nil {
		s.status = &httppush.Status{}
	}
	s.tracker.acked = o.start.Acked
	shardPosValid := len(o.start.Shards) == q.Shards
	s.shards = make([]*shard, q.Shards)
	for i := range s.shards {
		s.shards[i] = &shard{s: s, in: make(chan queuedSample, q.Capacity)}
		if shardPosValid {
			s.shards[i].acked = o.start.Shards[i]
		}
	}
	s.reader = newWALReader(s, o.start, shardPosValid)
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
}

// stop ends the sender at once (requests in flight get a short grace to complete, see
// inflightGrace in client.go); unacknowledged samples stay in the WAL. It may be called
// more than once.
func (s *sender) stop() {
	if s.cancel == nil {
		return // never started
	}
	s.cancel()
	s.wg.Wait()
	s.client.CloseIdleConnections()
	s.m.pendingSamples.Sub(float64(s.pending.Swap(0)))
}

// flush reads the WAL to its end and sends everything, for at most timeout and only while
// the receiver accepts; then it stops. Commits must be closed before.
func (s *sender) flush(timeout time.Duration) {
	s.flushing.Store(true)
	if s.failing.Load() > 0 {
		s.logger.Warn("receiver is failing, not flushing: the rest stays in the WAL for the next start")
		s.stop()
		return
	}
	close(s.drain)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.logger.Warn("flush deadline reached, the rest stays in the WAL for the next start", "timeout", timeout)
	case <-s.abort:
		s.logger.Warn("receiver failed during flush, the rest stays in the WAL for the next start")
	}
	s.stop()
}

func (s *sender) abortFlush() {
	s.abortMu.Do(func() { close(s.abort) })
}

// marker returns what is acknowledged so far.
func (s *sender) marker() marker {
	m := marker{Acked: s.tracker.position(), Shards: make([]samplePos, len(s.shards))}
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
