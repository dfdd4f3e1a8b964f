package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// events records what the fake components did, in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, a ...any) {
	e.mu.Lock()
	e.log = append(e.log, fmt.Sprintf(format, a...))
	e.mu.Unlock()
}

func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.log
	e.log = nil
	return out
}

type srcArgs struct {
	ForwardTo []string
	Value     float64
	Fail      bool
}

func (a *srcArgs) Validate() error { return nil }
func (a *srcArgs) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo}}
}

// src appends one sample per tick to its forward_to, and records start/stop.
type src struct {
	id   string
	ev   *events
	app  pipeline.Appendable
	args *srcArgs
	runs *atomic.Int32
}

func (s *src) Run(ctx context.Context) error {
	s.ev.add("start %s", s.id)
	defer s.ev.add("stop %s", s.id)
	if s.runs.Add(1) == 1 && s.args.Fail {
		return fmt.Errorf("boom")
	}
	a := s.app.Appender(ctx)
	_, _ = a.Append(0, labels.FromStrings("__name__", "x", "src", s.id), time.Now().UnixMilli(), s.args.Value)
	_ = a.Commit()
	<-ctx.Done()
	return nil
}

type sinkArgs struct{ Tag string }

func (a *sinkArgs) Validate() error { return nil }

// sink records start/stop/update. It is a pipeline.Readier, ready once its Run has recorded
// its start: the controller guarantees that a source's Run comes after its sink is ready, so
// "start sink" is recorded before "start src" (for a plain component the guarantee is only
// that its Run was called first, and its first line could still lose the race).
type sink struct {
	id    string
	ev    *events
	tag   atomic.Value
	recv  *pipelinetest.Sink
	ready chan struct{}
	once  sync.Once
}

func (s *sink) Run(ctx context.Context) error {
	s.ev.add("start %s", s.id)
	s.once.Do(func() { close(s.ready) })
	<-ctx.Done()
	s.ev.add("stop %s", s.id)
	return nil
}
func (s *sink) Appendable() pipeline.Appendable { return s.recv }
func (s *sink) Ready() <-chan struct{}          { return s.ready }
func (s *sink) Update(a *sinkArgs) error {
	s.tag.Store(a.Tag)
	s.ev.add("update %s", s.id)
	return nil
}

type fixture struct {
	ev    *events
	runs  atomic.Int32
	sinks sync.Map // id -> *sink
	reg   *pipeline.Registry
	c     *pipeline.Controller
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{ev: &events{}}
	reg, err := pipeline.NewRegistry(
		pipeline.Registration{Type: "test.src", Args: func() pipeline.Arguments { return &srcArgs{} },
			New: func(o pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
				return &src{id: o.ID, ev: f.ev, app: o.Host.Appendable(a.(*srcArgs).ForwardTo), args: a.(*srcArgs), runs: &f.runs}, nil
			}},
		pipeline.Register("test.sink", func() *sinkArgs { return &sinkArgs{} },
			func(o pipeline.Options, a *sinkArgs) (*sink, error) {
				s := &sink{id: o.ID, ev: f.ev, recv: pipelinetest.NewSink(), ready: make(chan struct{})}
				f.sinks.Store(o.ID, s)
				return s, nil
			}, pipeline.KindMetrics),
	)
	require.NoError(t, err)
	f.reg = reg
	f.c = pipeline.NewController(pipeline.ControllerOptions{
		Registry: reg, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(), DataPath: t.TempDir(),
	})
	return f
}

func spec(id string, args pipeline.Arguments, fp string) pipeline.Spec {
	typ, name, _ := cut(id)
	return pipeline.Spec{ID: id, Type: typ, Name: name, Args: args, Fingerprint: fp}
}

func cut(id string) (string, string, bool) {
	for i := range id {
		if id[i] == '/' {
			return id[:i], id[i+1:], true
		}
	}
	return id, "", false
}

func (f *fixture) sink(id string) *sink {
	v, _ := f.sinks.Load(id)
	return v.(*sink)
}

// waitEvents, called in a synctest bubble, waits until every goroutine in it is blocked and
// returns the n events recorded since the last call.
func waitEvents(t *testing.T, ev *events, n int) []string {
	t.Helper()
	synctest.Wait()
	got := ev.take()
	require.Len(t, got, n, "events: %q", got)
	return got
}

// TestControllerApplyAndReload runs in a synctest bubble, as the other controller tests: the
// fake components and the controller are in memory, so synctest.Wait (waitEvents) returns
// once everything an Apply started has happened.
func TestControllerApplyAndReload(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { f.c.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done }) // on failure; the test stops it itself below

		// Start: sinks first, then sources.
		require.NoError(t, f.c.Apply([]pipeline.Spec{
			spec("test.src/a", &srcArgs{ForwardTo: []string{"test.sink/out"}, Value: 1}, "a1"),
			spec("test.sink/out", &sinkArgs{Tag: "x"}, "out1"),
		}))
		require.Equal(t, []string{"start test.sink/out", "start test.src/a"}, waitEvents(t, f.ev, 2))
		require.Len(t, f.sink("test.sink/out").recv.Samples(), 1)

		// Unchanged components keep running; a changed Updater is updated in place; a changed
		// non-Updater restarts; a new one starts.
		require.NoError(t, f.c.Apply([]pipeline.Spec{
			spec("test.src/a", &srcArgs{ForwardTo: []string{"test.sink/out"}, Value: 2}, "a2"),
			spec("test.sink/out", &sinkArgs{Tag: "y"}, "out2"),
			spec("test.src/b", &srcArgs{ForwardTo: []string{"test.sink/out"}, Value: 3}, "b1"),
		}))
		require.ElementsMatch(t, []string{"stop test.src/a", "update test.sink/out", "start test.src/a", "start test.src/b"}, waitEvents(t, f.ev, 4))
		require.Equal(t, "y", f.sink("test.sink/out").tag.Load())

		// A graph that fails validation changes nothing.
		err := f.c.Apply([]pipeline.Spec{spec("test.src/a", &srcArgs{ForwardTo: []string{"test.sink/gone"}}, "bad")})
		require.ErrorContains(t, err, `no component "test.sink/gone"`)
		require.Len(t, f.c.Components(), 3)

		// Removing b stops only b.
		require.NoError(t, f.c.Apply([]pipeline.Spec{
			spec("test.src/a", &srcArgs{ForwardTo: []string{"test.sink/out"}, Value: 2}, "a2"),
			spec("test.sink/out", &sinkArgs{Tag: "y"}, "out2"),
		}))
		require.Equal(t, []string{"stop test.src/b"}, waitEvents(t, f.ev, 1))

		// Shutdown: sources first, then sinks.
		cancel()
		<-done
		require.Equal(t, []string{"stop test.src/a", "stop test.sink/out"}, waitEvents(t, f.ev, 2))
	})
}

func TestControllerRestartsFailedComponent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { f.c.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()

		require.NoError(t, f.c.Apply([]pipeline.Spec{
			spec("test.src/a", &srcArgs{ForwardTo: []string{"test.sink/out"}, Fail: true}, "a"),
			spec("test.sink/out", &sinkArgs{}, "out"),
		}))
		// The first run fails; health says so; the component is rebuilt and runs again.
		synctest.Wait()
		failed, sinkStarted := false, false
		for _, ci := range f.c.Components() {
			failed = failed || ci.ID == "test.src/a" && ci.Health.State == pipeline.HealthUnhealthy
			sinkStarted = sinkStarted || ci.ID == "test.sink/out" && ci.Health.State == pipeline.HealthHealthy
		}
		require.True(t, failed, "test.src/a unhealthy after its failed run")
		require.True(t, sinkStarted, "test.sink/out healthy")
		// Unhealthy is reported, not a reason to leave the Service's endpoints (Controller.Ready).
		ok, why := f.c.Ready()
		require.True(t, ok, "an unhealthy component made the agent unready: %s", why)
		require.Equal(t, int32(1), f.runs.Load(), "not restarted before the first backoff")
		time.Sleep(time.Second) // the first restart backoff
		synctest.Wait()
		require.Equal(t, int32(2), f.runs.Load())
		ok, why = f.c.Ready()
		require.True(t, ok, why)
	})
}

// flakyArgs configure test.flaky: its Run fails with err while fail is set.
type flakyArgs struct {
	fail *atomic.Bool
	err  string
}

func (a *flakyArgs) Validate() error { return nil }

type flaky struct{ args *flakyArgs }

func (f flaky) Run(ctx context.Context) error {
	if f.args.fail.Load() {
		return errors.New(f.args.err)
	}
	<-ctx.Done()
	return nil
}

// TestControllerCrashLoop: a component whose Run keeps failing (an OTLP listener whose port
// is taken) makes the agent unready after CrashLoopFailures failed runs, with its id and
// error; it is counted in sonde_component_restarts_total and sonde_component_crash_looping,
// logged once per change rather than once per restart, and ready again once it has run for
// StableRun.
func TestControllerCrashLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bindErr = "listen tcp 0.0.0.0:4317: bind: address already in use"
		var fail atomic.Bool
		fail.Store(true)
		reg, err := pipeline.NewRegistry(pipeline.Registration{Type: "test.flaky",
			Args: func() pipeline.Arguments { return &flakyArgs{} },
			New: func(_ pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
				return flaky{args: a.(*flakyArgs)}, nil
			}})
		require.NoError(t, err)
		logs := &pipelinetest.LogBuffer{}
		promReg := prometheus.NewRegistry()
		c := pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Registerer: promReg, DataPath: t.TempDir(),
			Logger: logs.Logger(slog.LevelInfo)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		require.NoError(t, c.Apply([]pipeline.Spec{spec("test.flaky/otlp", &flakyArgs{fail: &fail, err: bindErr}, "1")}))

		metric := func(name string) float64 {
			mfs, err := promReg.Gather()
			require.NoError(t, err)
			for _, mf := range mfs {
				if mf.GetName() == name {
					m := mf.GetMetric()[0]
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
			t.Fatalf("no metric %s", name)
			return 0
		}

		// One failure: unhealthy, restarting, still ready (one failure is no crash loop).
		synctest.Wait()
		ci := c.Components()[0]
		require.Equal(t, pipeline.HealthUnhealthy, ci.Health.State)
		require.Contains(t, ci.Health.Message, bindErr)
		ok, why := c.Ready()
		require.True(t, ok, why)

		// Restarts after 1s and 2s of backoff: the third failure makes it a crash loop.
		time.Sleep(3 * time.Second)
		synctest.Wait()
		ok, why = c.Ready()
		require.False(t, ok)
		require.Equal(t, "test.flaky/otlp is crash-looping (3 failed runs in a row): "+bindErr, why)
		require.Equal(t, 2.0, metric("sonde_component_restarts_total"))
		require.Equal(t, 1.0, metric("sonde_component_crash_looping"))
		require.Equal(t, 2, logs.Count("component exited; restarting"))
		require.Equal(t, 1, logs.Count("component crash-looping"))

		// Ten more minutes of failing (backoff 4s ... 1m: 12 more restarts) log nothing new:
		// same error, and the reminder comes only every 10 minutes.
		time.Sleep(10*time.Minute - time.Second)
		synctest.Wait()
		require.Equal(t, 14.0, metric("sonde_component_restarts_total"))
		require.Equal(t, 0, logs.Count("still crash-looping"))
		ok, _ = c.Ready()
		require.False(t, ok)
		time.Sleep(2 * time.Second) // the failure at 10 min 3 s reminds
		synctest.Wait()
		require.Equal(t, 1, logs.Count("still crash-looping"), "the 10-minute reminder")

		// The port is free again: the next restart runs, and once it has run for StableRun
		// the agent is ready again.
		fail.Store(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		ci = c.Components()[0]
		require.Equal(t, pipeline.HealthHealthy, ci.Health.State)
		require.Equal(t, 16.0, metric("sonde_component_restarts_total"))
		ok, _ = c.Ready()
		require.False(t, ok, "running, but not for StableRun yet")
		time.Sleep(pipeline.StableRun)
		synctest.Wait()
		ok, why = c.Ready()
		require.True(t, ok, why)
		require.Equal(t, 0.0, metric("sonde_component_crash_looping"))
		require.Equal(t, 1, logs.Count("component recovered from crash loop"))
	})
}

// TestControllerExportsChecked: a registration that declares metrics but whose component is
// no MetricsReceiver is refused when it is built, instead of leaving its senders waiting on
// an empty handle forever.
func TestControllerExportsChecked(t *testing.T) {
	reg, err := pipeline.NewRegistry(pipeline.Registration{Type: "test.liar",
		Exports: []pipeline.EdgeKind{pipeline.KindMetrics},
		Args:    func() pipeline.Arguments { return &flakyArgs{} },
		New: func(_ pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
			return flaky{args: a.(*flakyArgs)}, nil
		}})
	require.NoError(t, err)
	c := pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Registerer: prometheus.NewRegistry(),
		DataPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	err = c.Apply([]pipeline.Spec{spec("test.liar/x", &flakyArgs{}, "1")})
	require.ErrorContains(t, err, "test.liar exports metrics but does not implement pipeline.MetricsReceiver")
}
