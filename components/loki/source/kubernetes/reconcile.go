package kubernetes

import (
	"context"
	"log/slog"
	"sync"

	"github.com/sondehq/sonde/internal/logbatch"
)

// reconciler keeps one tailer per wanted stream: given the full set of wanted streams it
// starts the new ones and lets the vanished ones finish.
//
// Only Run's goroutine calls reconcile and stopAll; tailers report refusals concurrently
// (guarded by mu) and signal changed when they end, so that a stream wanted again while its
// previous tailer was finishing gets a new one.
type reconciler struct {
	logger  *slog.Logger
	table   *table
	out     *logbatch.Batcher[cursor]
	metrics *metrics
	changed chan struct{}

	tailers map[streamKey]*running
	wg      sync.WaitGroup

	mu      sync.Mutex
	refused map[streamKey]error // guarded by mu
}

type running struct {
	t      *tailer
	cancel context.CancelFunc
	done   chan struct{}
}

func newReconciler(logger *slog.Logger, t *table, out *logbatch.Batcher[cursor], m *metrics) *reconciler {
	return &reconciler{
		logger: logger, table: t, out: out, metrics: m, changed: make(chan struct{}, 1),
		tailers: map[streamKey]*running{}, refused: map[streamKey]error{},
	}
}

func (r *reconciler) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// reconcile brings the tailers in line with the streams src wants.
func (r *reconciler) reconcile(ctx context.Context, src *source) {
	for k, rt := range r.tailers {
		select {
		case <-rt.done:
			delete(r.tailers, k)
		default:
		}
	}
	if src == nil {
		return
	}
	wanted := src.wanted()
	started, stopped := 0, 0
	for k, s := range wanted {
		if _, ok := r.tailers[k]; ok {
			continue
		}
		pos := r.table.get(k, s.namespace, s.pod)
		t := newTailer(s, src.clientset(), pos, r.out, r.metrics, r.logger, r.setRefused)
		tctx, cancel := context.WithCancel(ctx)
		rt := &running{t: t, cancel: cancel, done: make(chan struct{})}
		r.tailers[k] = rt
		r.wg.Go(func() {
			defer r.signal()
			defer close(rt.done)
			defer cancel()
			t.run(tctx)
		})
		started++
	}
	active := 0
	for k, rt := range r.tailers {
		if _, ok := wanted[k]; ok {
			active++
			continue
		}
		if !rt.t.finishing() {
			rt.t.stop()
			stopped++
		}
	}
	r.metrics.streams.Set(float64(active))
	if started > 0 || stopped > 0 {
		r.logger.Info("container log streams changed", "started", started, "stopped", stopped, "active", active)
	}
}

// stopAll stops every tailer at once (no final read) and waits for them.
func (r *reconciler) stopAll() {
	for _, rt := range r.tailers {
		rt.cancel()
	}
	r.wg.Wait()
	clear(r.tailers)
	r.metrics.streams.Set(0)
	r.mu.Lock()
	clear(r.refused)
	r.mu.Unlock()
}

func (r *reconciler) setRefused(k streamKey, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.refused, k)
	} else {
		r.refused[k] = err
	}
}

// refusals returns how many streams the API server refuses, and one of the errors.
func (r *reconciler) refusals() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.refused {
		return len(r.refused), err
	}
	return 0, nil
}
