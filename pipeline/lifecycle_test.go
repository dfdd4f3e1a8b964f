package pipeline_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// stageArgs configure the fakes below.
type stageArgs struct {
	ForwardTo []string
	Flush     time.Duration // how long the sink's last flush takes
	ReadyIn   time.Duration // how long the sink takes to become ready
}

func (a *stageArgs) Validate() error { return nil }
func (a *stageArgs) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo}}
}

// timeline records when each thing happened, in (fake) time since the test began.
type timeline struct {
	mu    sync.Mutex
	start time.Time
	at    map[string]time.Duration
}

func (l *timeline) mark(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at[what] = time.Since(l.start)
}

func (l *timeline) get(what string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.at[what]
	return d, ok
}

// stageSrc marks when it runs and stops.
type stageSrc struct {
	id string
	l  *timeline
}

func (s *stageSrc) Run(ctx context.Context) error {
	s.l.mark("run " + s.id)
	<-ctx.Done()
	s.l.mark("stopped " + s.id)
	return nil
}

// stageSink becomes ready after ReadyIn and flushes for Flush (or until FlushContext ends).
type stageSink struct {
	id    string
	l     *timeline
	args  *stageArgs
	ready chan struct{}
}

func (s *stageSink) Appendable() pipeline.Appendable { return pipelinetest.NewSink() }
func (s *stageSink) Ready() <-chan struct{}          { return s.ready }

func (s *stageSink) Run(ctx context.Context) error {
	select {
	case <-time.After(s.args.ReadyIn):
		s.l.mark("ready " + s.id)
		close(s.ready)
	case <-ctx.Done():
	}
	<-ctx.Done()
	s.l.mark("stopping " + s.id)
	fctx, cancel := pipeline.FlushContext(ctx)
	defer cancel()
	select {
	case <-time.After(s.args.Flush):
		s.l.mark("flushed " + s.id)
	case <-fctx.Done():
		s.l.mark("flush cut " + s.id)
	}
	return nil
}

func stageController(t *testing.T, l *timeline, shutdown time.Duration) *pipeline.Controller {
	reg, err := pipeline.NewRegistry(
		pipeline.Register("stage.src", func() *stageArgs { return &stageArgs{} },
			func(o pipeline.Options, _ *stageArgs) (*stageSrc, error) { return &stageSrc{id: o.ID, l: l}, nil }),
		pipeline.Register("stage.sink", func() *stageArgs { return &stageArgs{} },
			func(o pipeline.Options, a *stageArgs) (*stageSink, error) {
				return &stageSink{id: o.ID, l: l, args: a, ready: make(chan struct{})}, nil
			}, pipeline.KindMetrics),
	)
	require.NoError(t, err)
	return pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Registerer: prometheus.NewRegistry(),
		DataPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: shutdown})
}

// TestControllerShutdownBudget: at shutdown the source stops first, then the sinks flush in
// parallel within one budget: two 4 s flushes take 4 s, not 8, and a 30 s flush is cut at
// the budget (10 s) through FlushContext rather than abandoned.
func TestControllerShutdownBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timeline{start: time.Now(), at: map[string]time.Duration{}}
		c := stageController(t, l, 10*time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		require.NoError(t, c.Apply([]pipeline.Spec{
			spec("stage.src/s", &stageArgs{ForwardTo: []string{"stage.sink/a", "stage.sink/b", "stage.sink/slow"}}, "s"),
			spec("stage.sink/a", &stageArgs{Flush: 4 * time.Second}, "a"),
			spec("stage.sink/b", &stageArgs{Flush: 4 * time.Second}, "b"),
			spec("stage.sink/slow", &stageArgs{Flush: 30 * time.Second}, "slow"),
		}))
		time.Sleep(time.Second)
		synctest.Wait()
		began := time.Since(l.start)
		cancel()
		<-done
		took := time.Since(l.start) - began
		require.Equal(t, 10*time.Second, took, "Run returns at the budget: the slow sink's flush is cut there")
		synctest.Wait() // the slow sink records its cut flush at that same instant

		src, _ := l.get("stopped stage.src/s")
		for _, sink := range []string{"stage.sink/a", "stage.sink/b", "stage.sink/slow"} {
			stopping, ok := l.get("stopping " + sink)
			require.True(t, ok)
			require.GreaterOrEqual(t, stopping, src, "%s stops after the source that sends to it", sink)
		}
		a, _ := l.get("flushed stage.sink/a")
		b, _ := l.get("flushed stage.sink/b")
		require.Equal(t, began+4*time.Second, a, "sinks flush in parallel")
		require.Equal(t, began+4*time.Second, b)
		cut, ok := l.get("flush cut stage.sink/slow")
		require.True(t, ok, "FlushContext ends at the budget")
		require.Equal(t, began+10*time.Second, cut)
	})
}

// TestControllerSourcesWaitForReadySinks: a source's Run starts only once the sinks it sends
// to are ready (a WAL replayed), not as soon as they were started.
func TestControllerSourcesWaitForReadySinks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &timeline{start: time.Now(), at: map[string]time.Duration{}}
		c := stageController(t, l, 0)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		require.NoError(t, c.Apply([]pipeline.Spec{
			spec("stage.src/s", &stageArgs{ForwardTo: []string{"stage.sink/fast", "stage.sink/wal"}}, "s"),
			spec("stage.sink/fast", &stageArgs{}, "fast"),
			spec("stage.sink/wal", &stageArgs{ReadyIn: 7 * time.Second}, "wal"),
		}))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		_, ran := l.get("run stage.src/s")
		require.False(t, ran, "the source waits for the WAL sink")
		ok, why := c.Ready()
		require.False(t, ok, "the agent is not ready while a component waits to start")
		require.Contains(t, why, "stage.src/s is starting")

		time.Sleep(3 * time.Second)
		synctest.Wait()
		ready, _ := l.get("ready stage.sink/wal")
		run, ranNow := l.get("run stage.src/s")
		require.True(t, ranNow)
		require.Equal(t, ready, run, "it starts as soon as the sink is ready")
		cancel()
		<-done
		require.True(t, slices.ContainsFunc(c.Components(), func(ci pipeline.ComponentInfo) bool {
			return ci.Health.State == pipeline.HealthStopped
		}))
	})
}
