package pipeline_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// The tap fixture: tap.src resolves its metrics and logs edges and hands them to the test,
// which then sends through them; tap.disc publishes two targets.

type tapSrcArgs struct {
	Targets   []string
	ForwardTo []string
	LogsTo    []string
}

func (a *tapSrcArgs) Validate() error { return nil }
func (a *tapSrcArgs) References() []pipeline.Reference {
	return []pipeline.Reference{
		{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets},
		{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo},
		{Field: "logs_to", Kind: pipeline.KindLogs, IDs: a.LogsTo},
	}
}

type tapSrc struct {
	app  pipeline.Appendable
	logs pipeline.LogsReceiver
}

func (s *tapSrc) Run(ctx context.Context) error { <-ctx.Done(); return nil }

type noArgs struct{}

func (noArgs) Validate() error { return nil }

type idle struct{}

func (idle) Run(ctx context.Context) error { <-ctx.Done(); return nil }

type metricsSink struct {
	idle
	*pipelinetest.Sink
}

func (s metricsSink) Appendable() pipeline.Appendable { return s.Sink }

// publisher exports targets and does nothing else.
type publisher struct {
	idle
	pipeline.TargetsPublisher
}

type logsSink struct {
	idle
	*pipelinetest.LogsSink
}

type tapFixture struct {
	c      *pipeline.Controller
	mu     sync.Mutex
	srcs   map[string]*tapSrc
	stop   func()
	ctx    context.Context
	cancel context.CancelFunc
}

func newTapFixture(t *testing.T) *tapFixture {
	f := &tapFixture{srcs: map[string]*tapSrc{}}
	reg, err := pipeline.NewRegistry(
		pipeline.Registration{Type: "tap.src", Args: func() pipeline.Arguments { return &tapSrcArgs{} },
			New: func(o pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
				args := a.(*tapSrcArgs)
				s := &tapSrc{app: o.Host.Appendable(args.ForwardTo), logs: o.Host.Logs(args.LogsTo)}
				f.mu.Lock()
				f.srcs[o.ID] = s
				f.mu.Unlock()
				return s, nil
			}},
		pipeline.Registration{Type: "tap.disc", Args: func() pipeline.Arguments { return noArgs{} },
			Exports: []pipeline.EdgeKind{pipeline.KindTargets},
			New: func(o pipeline.Options, _ pipeline.Arguments) (pipeline.Component, error) {
				d := &publisher{}
				d.Publish(pipeline.Targets{{"__address__": "a:1"}, {"__address__": "b:1"}})
				return d, nil
			}},
		pipeline.Registration{Type: "tap.msink", Args: func() pipeline.Arguments { return noArgs{} },
			Exports: []pipeline.EdgeKind{pipeline.KindMetrics},
			New: func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) {
				return metricsSink{Sink: pipelinetest.NewSink()}, nil
			}},
		pipeline.Registration{Type: "tap.lsink", Args: func() pipeline.Arguments { return noArgs{} },
			Exports: []pipeline.EdgeKind{pipeline.KindLogs},
			New: func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) {
				return logsSink{LogsSink: pipelinetest.NewLogsSink()}, nil
			}},
	)
	require.NoError(t, err)
	f.c = pipeline.NewController(pipeline.ControllerOptions{
		Registry: reg, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(), DataPath: t.TempDir(),
	})
	f.ctx, f.cancel = context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.c.Run(f.ctx); close(done) }()
	f.stop = func() { f.cancel(); <-done }
	return f
}

func (f *tapFixture) src(id string) *tapSrc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.srcs[id]
}

func tapGraph() []pipeline.Spec {
	return []pipeline.Spec{
		spec("tap.disc/d", noArgs{}, "d"),
		spec("tap.src/s", &tapSrcArgs{Targets: []string{"tap.disc/d"}, ForwardTo: []string{"tap.msink/m"}, LogsTo: []string{"tap.lsink/l"}}, "s"),
		spec("tap.msink/m", noArgs{}, "m"),
		spec("tap.lsink/l", noArgs{}, "l"),
	}
}

func (f *tapFixture) appendSamples(t *testing.T, n int, commit bool) {
	app := f.src("tap.src/s").app.Appender(context.Background())
	for i := range n {
		_, err := app.Append(0, labels.FromStrings("__name__", "x", "i", string(rune('a'+i%26))), 1000, float64(i))
		require.NoError(t, err)
	}
	if commit {
		require.NoError(t, app.Commit())
	} else {
		require.NoError(t, app.Rollback())
	}
}

func (f *tapFixture) sendLines(t *testing.T, lines ...string) {
	entries := make([]pipeline.LogEntry, len(lines))
	for i, l := range lines {
		entries[i] = pipeline.LogEntry{Labels: model.LabelSet{"job": "j"}, Timestamp: time.Unix(10, 0), Line: l}
	}
	require.NoError(t, f.src("tap.src/s").logs.ConsumeLogs(context.Background(), pipeline.NewLogBatch(entries, nil)))
}

func edgeMap(es []pipeline.EdgeInfo) map[pipeline.EdgeKey]pipeline.EdgeInfo {
	out := map[pipeline.EdgeKey]pipeline.EdgeInfo{}
	for _, e := range es {
		out[e.EdgeKey] = e
	}
	return out
}

func TestEdgesCountWhatCrosses(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newTapFixture(t)
	defer f.stop()
	require.NoError(t, f.c.Apply(tapGraph()))

	f.appendSamples(t, 3, true)
	f.appendSamples(t, 2, false) // rolled back: not counted
	f.sendLines(t, "one", "two", "three", "four", "five")

	got := edgeMap(f.c.Edges())
	require.Len(t, got, 3)
	require.Equal(t, pipeline.EdgeInfo{EdgeKey: pipeline.EdgeKey{From: "tap.disc/d", To: "tap.src/s", Kind: pipeline.KindTargets}, Field: "targets", Targets: 2},
		got[pipeline.EdgeKey{From: "tap.disc/d", To: "tap.src/s", Kind: pipeline.KindTargets}])
	require.Equal(t, uint64(3), got[pipeline.EdgeKey{From: "tap.src/s", To: "tap.msink/m", Kind: pipeline.KindMetrics}].Items)
	require.Equal(t, uint64(5), got[pipeline.EdgeKey{From: "tap.src/s", To: "tap.lsink/l", Kind: pipeline.KindLogs}].Items)

	ts, ok := f.c.PublishedTargets("tap.disc/d")
	require.True(t, ok)
	require.Len(t, ts, 2)
	_, ok = f.c.PublishedTargets("tap.disc/nope")
	require.False(t, ok)

	// Removing the log sink forgets its edge; the others keep their counts.
	g := tapGraph()
	g[1] = spec("tap.src/s", &tapSrcArgs{Targets: []string{"tap.disc/d"}, ForwardTo: []string{"tap.msink/m"}}, "s2")
	require.NoError(t, f.c.Apply(g[:3]))
	got = edgeMap(f.c.Edges())
	require.Len(t, got, 2)
	require.Equal(t, uint64(3), got[pipeline.EdgeKey{From: "tap.src/s", To: "tap.msink/m", Kind: pipeline.KindMetrics}].Items)
}

func drain(w *pipeline.Watcher) []pipeline.LiveItem {
	var out []pipeline.LiveItem
	for {
		select {
		case it := <-w.Items():
			out = append(out, it)
		default:
			return out
		}
	}
}

func TestWatchSamplesWithinBudget(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newTapFixture(t)
	defer f.stop()
	require.NoError(t, f.c.Apply(tapGraph()))

	_, err := f.c.Watch("tap.src/nope", 5)
	require.ErrorContains(t, err, "no such component")

	// The source's watcher sees both edges leaving it, at most 5 items per Tick.
	w, err := f.c.Watch("tap.src/s", 5)
	require.NoError(t, err)
	f.appendSamples(t, 3, true)
	f.sendLines(t, "l1", "l2", "l3", "l4")
	items := drain(w)
	require.Len(t, items, 5, "the budget of one second")
	require.Equal(t, pipeline.EdgeKey{From: "tap.src/s", To: "tap.msink/m", Kind: pipeline.KindMetrics}, items[0].EdgeKey)
	require.Equal(t, `{__name__="x", i="a"}`, items[0].Labels)
	require.Equal(t, "0", items[0].Value)
	require.Equal(t, int64(1000), items[0].Time.UnixMilli())
	require.Equal(t, pipeline.EdgeKey{From: "tap.src/s", To: "tap.lsink/l", Kind: pipeline.KindLogs}, items[3].EdgeKey)
	require.Equal(t, `{job="j"}`, items[3].Labels)
	require.Equal(t, "l1", items[3].Value)

	// The next Tick grants a new budget, spread over about as many items as the last second
	// saw (7 items for a budget of 5: stride 1, so the first 5 again).
	w.Tick()
	f.sendLines(t, "m1", "m2", "m3", "m4", "m5", "m6")
	require.Len(t, drain(w), 5)

	// The sink's watcher sees the edge entering it.
	ws, err := f.c.Watch("tap.lsink/l", 100)
	require.NoError(t, err)
	f.sendLines(t, "n1")
	require.Equal(t, []string{"n1"}, values(drain(ws)))

	// Closed watchers get nothing more; with nobody watching nothing is sampled.
	w.Close()
	ws.Close()
	w.Close() // twice is fine
	f.appendSamples(t, 3, true)
	f.sendLines(t, "o1")
	require.Empty(t, drain(w))
	require.Empty(t, drain(ws))
}

func values(items []pipeline.LiveItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Value)
	}
	return out
}

func TestWatcherNeverBlocksThePipeline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newTapFixture(t)
	defer f.stop()
	require.NoError(t, f.c.Apply(tapGraph()))

	// A watcher that never reads: its buffer (one second's budget) fills, the rest is
	// dropped and counted, and every send still returns at once.
	w, err := f.c.Watch("tap.lsink/l", 2)
	require.NoError(t, err)
	defer w.Close()
	f.sendLines(t, "a", "b", "c")
	w.Tick()
	f.sendLines(t, "d", "e", "f")
	require.Equal(t, uint64(2), w.Dropped())
	require.Equal(t, []string{"a", "b"}, values(drain(w)))
	require.Equal(t, uint64(6), edgeMap(f.c.Edges())[pipeline.EdgeKey{From: "tap.src/s", To: "tap.lsink/l", Kind: pipeline.KindLogs}].Items)
}

func TestWatcherStrideSpreadsTheBudget(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newTapFixture(t)
	defer f.stop()
	require.NoError(t, f.c.Apply(tapGraph()))

	w, err := f.c.Watch("tap.src/s", 10)
	require.NoError(t, err)
	defer w.Close()
	f.appendSamples(t, 10000, true)
	require.Len(t, drain(w), 10)
	w.Tick() // 10000 items last second for a budget of 10: take about 1 in 1000
	f.appendSamples(t, 10000, true)
	got := drain(w)
	require.NotEmpty(t, got)
	require.LessOrEqual(t, len(got), 10)
	// Items are not simply the first ones of the batch (those would all be i="a".."j").
	distinct := map[string]bool{}
	for _, it := range got {
		distinct[it.Labels] = true
	}
	require.Greater(t, len(distinct), 1)
}

// OTLP edges are tapped too: the controller's Host hands out counting consumers on the
// same stable handles that components export to.

type otlpSrcArgs struct{ Traces []string }

func (a *otlpSrcArgs) Validate() error { return nil }
func (a *otlpSrcArgs) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "output.traces", Kind: pipeline.KindOTLPTraces, IDs: a.Traces}}
}

type otlpSrc struct {
	idle
	next consumer.Traces
}

type otlpSink struct {
	idle
	mu    sync.Mutex
	spans int
}

func (s *otlpSink) Traces() consumer.Traces {
	c, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		s.mu.Lock()
		s.spans += td.SpanCount()
		s.mu.Unlock()
		return nil
	})
	return c
}

func TestOTLPEdgesAreTapped(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var (
		mu   sync.Mutex
		src  *otlpSrc
		sink *otlpSink
	)
	reg, err := pipeline.NewRegistry(
		pipeline.Registration{Type: "otlp.src", Args: func() pipeline.Arguments { return &otlpSrcArgs{} },
			New: func(o pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
				mu.Lock()
				defer mu.Unlock()
				src = &otlpSrc{next: o.Host.OTLPTraces(a.(*otlpSrcArgs).Traces)}
				return src, nil
			}},
		pipeline.Registration{Type: "otlp.sink", Args: func() pipeline.Arguments { return noArgs{} },
			Exports: []pipeline.EdgeKind{pipeline.KindOTLPTraces},
			New: func(o pipeline.Options, _ pipeline.Arguments) (pipeline.Component, error) {
				mu.Lock()
				defer mu.Unlock()
				sink = &otlpSink{}
				return sink, nil
			}},
	)
	require.NoError(t, err)
	c := pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(), DataPath: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	require.NoError(t, c.Apply([]pipeline.Spec{
		spec("otlp.src/in", &otlpSrcArgs{Traces: []string{"otlp.sink/out"}}, "in"),
		spec("otlp.sink/out", noArgs{}, "out"),
	}))
	w, err := c.Watch("otlp.sink/out", 10)
	require.NoError(t, err)
	defer w.Close()

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	for _, name := range []string{"GET /cart", "SELECT cart", "render"} {
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName(name)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Unix(100, 0)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Unix(100, 5e6)))
	}
	mu.Lock()
	next := src.next
	mu.Unlock()
	require.NoError(t, next.ConsumeTraces(context.Background(), td))

	mu.Lock()
	require.Equal(t, 3, sink.spans, "the data reaches the exported receiver")
	mu.Unlock()
	require.Equal(t, uint64(3), edgeMap(c.Edges())[pipeline.EdgeKey{From: "otlp.src/in", To: "otlp.sink/out", Kind: pipeline.KindOTLPTraces}].Items)
	items := drain(w)
	require.Equal(t, []string{"GET /cart 5ms", "SELECT cart 5ms", "render 5ms"}, values(items))
	require.Equal(t, `{service.name="shop"}`, items[0].Labels)
}
