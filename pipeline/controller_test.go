package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
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

type sink struct {
	id   string
	ev   *events
	tag  atomic.Value
	recv *pipelinetest.Sink
}

func (s *sink) Run(ctx context.Context) error {
	s.ev.add("start %s", s.id)
	<-ctx.Done()
	s.ev.add("stop %s", s.id)
	return nil
}
func (s *sink) Appendable() pipeline.Appendable { return s.recv }
func (s *sink) Update(a pipeline.Arguments) error {
	s.tag.Store(a.(*sinkArgs).Tag)
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
		pipeline.Registration{Type: "test.sink", Args: func() pipeline.Arguments { return &sinkArgs{} },
			Exports: []pipeline.EdgeKind{pipeline.KindMetrics},
			New: func(o pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
				s := &sink{id: o.ID, ev: f.ev, recv: pipelinetest.NewSink()}
				f.sinks.Store(o.ID, s)
				return s, nil
			}},
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

func waitEvents(t *testing.T, ev *events, n int) []string {
	var got []string
	require.Eventually(t, func() bool {
		got = append(got, ev.take()...)
		return len(got) >= n
	}, 5*time.Second, 5*time.Millisecond)
	return got
}

func TestControllerApplyAndReload(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.c.Run(ctx); close(done) }()

	// Start: sinks first, then sources.
	require.NoError(t, f.c.Apply([]pipeline.Spec{
		spec("test.src/a", &srcArgs{ForwardTo: []string{"test.sink/out"}, Value: 1}, "a1"),
		spec("test.sink/out", &sinkArgs{Tag: "x"}, "out1"),
	}))
	require.Equal(t, []string{"start test.sink/out", "start test.src/a"}, waitEvents(t, f.ev, 2))
	require.Eventually(t, func() bool { return len(f.sink("test.sink/out").recv.Samples()) == 1 }, 5*time.Second, 5*time.Millisecond)

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
}

func TestControllerRestartsFailedComponent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
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
	require.Eventually(t, func() bool {
		for _, ci := range f.c.Components() {
			if ci.ID == "test.src/a" && ci.Health.State == pipeline.HealthUnhealthy {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	// Unhealthy is reported, not a reason to leave the Service's endpoints (Controller.Ready).
	ok, why := f.c.Ready()
	require.True(t, ok, "an unhealthy component made the agent unready: %s", why)
	require.Eventually(t, func() bool { return f.runs.Load() == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { ok, _ := f.c.Ready(); return ok }, 5*time.Second, 10*time.Millisecond)
}
