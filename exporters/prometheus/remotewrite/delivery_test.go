package remotewrite

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// appendArgs configure appendSource.
type appendArgs struct {
	ForwardTo []string
	Samples   int // commits of one sample each, then it waits to be stopped
}

func (a *appendArgs) Validate() error { return nil }
func (a *appendArgs) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo}}
}

// appendSource commits one sample of src_metric per commit from the first moment of its
// Run, as a scrape loop starting would, and counts the commits refused.
type appendSource struct {
	app      pipeline.Appendable
	n        int
	refused  *atomic.Int64
	firstErr *atomic.Value
	done     chan struct{}
}

func (s *appendSource) Run(ctx context.Context) error {
	ls := labels.FromStrings("__name__", "src_metric")
	for i := 1; i <= s.n && ctx.Err() == nil; i++ {
		a := s.app.Appender(ctx)
		_, err := a.Append(0, ls, int64(i), float64(i))
		if err == nil {
			err = a.Commit()
		} else {
			_ = a.Rollback()
		}
		if err != nil {
			s.refused.Add(1)
			s.firstErr.CompareAndSwap(nil, err.Error())
		}
	}
	close(s.done)
	<-ctx.Done()
	return nil
}

// TestSendersStartOnceWALReplayed: after a restart with a large WAL, a component sending to
// prometheus.remote_write in a real pipeline.Controller starts only once the WAL is
// replayed (Readier), so not one of its appends is refused ("not running"), and every one
// of them is delivered.
func TestSendersStartOnceWALReplayed(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	root := t.TempDir()
	rwDir := filepath.Join(root, "prometheus.remote_write", "rw")
	args := testArgs(t, r.URL)
	args.Endpoint.Queue.MaxSamplesPerSend = 5000

	// A first run leaves a large WAL (all of it sent: a restart replays it all the same).
	first := start(t, rwDir, args, nil)
	const series, steps = 20000, 25
	first.appendSamples(t, series, steps, 1000)
	waitSamples(t, r, series*steps)
	first.stop(t)

	var refused atomic.Int64
	var firstErr atomic.Value
	srcDone := make(chan struct{})
	const n = 2000
	reg, err := pipeline.NewRegistry(Registration, pipeline.Registration{
		Type: "test.append",
		Args: func() pipeline.Arguments { return &appendArgs{} },
		New: func(o pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
			aa := a.(*appendArgs)
			return &appendSource{app: o.Host.Appendable(aa.ForwardTo), n: aa.Samples, refused: &refused, firstErr: &firstErr, done: srcDone}, nil
		},
	})
	require.NoError(t, err)
	logs := &pipelinetest.LogBuffer{}
	ctl := pipeline.NewController(pipeline.ControllerOptions{
		Registry: reg, Logger: logs.Logger(slog.LevelInfo), Registerer: prometheus.NewRegistry(), DataPath: root,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ctl.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	require.NoError(t, ctl.Apply([]pipeline.Spec{
		{ID: "test.append/src", Type: "test.append", Name: "src", Args: &appendArgs{ForwardTo: []string{"prometheus.remote_write/rw"}, Samples: n}},
		{ID: "prometheus.remote_write/rw", Type: "prometheus.remote_write", Name: "rw", Args: args},
	}))
	select {
	case <-srcDone:
	case <-time.After(time.Minute):
		t.Fatal("the source did not finish")
	}
	replayed := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "WAL replayed") {
			replayed = l
		}
	}
	t.Logf("%s", replayed)
	require.Zero(t, refused.Load(), "appends refused while the WAL replayed: %v", firstErr.Load())
	waitSamples(t, r, series*steps+n)
	require.Len(t, r.Series()[`{__name__="src_metric"}`], n)
	require.Zero(t, r.Duplicates())
}

// gate stands between the component and a receiver: while closed it forwards each request
// (the receiver takes its samples) but holds the answer, as a network would while the
// sender is killed; killed, it refuses every new request without forwarding it.
type gate struct {
	proxy  *httputil.ReverseProxy
	mu     sync.Mutex
	closed chan struct{} // non-nil: closed gate, released by closing the channel
	held   int           // answers held
	killed atomic.Bool
}

func newGate(t *testing.T, target string) (*gate, string) {
	u, err := url.Parse(target)
	require.NoError(t, err)
	g := &gate{proxy: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.URL.Path = u.Path }}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	t.Cleanup(g.open)
	return g, srv.URL + remotewritetest.WritePath
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.killed.Load() {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, "killed", http.StatusServiceUnavailable)
		return
	}
	rec := httptest.NewRecorder()
	g.proxy.ServeHTTP(rec, r)
	g.mu.Lock()
	wait := g.closed
	if wait != nil {
		g.held++
	}
	g.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-r.Context().Done():
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed, g.held = make(chan struct{}), 0
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
	g.mu.Unlock()
}

func (g *gate) heldAnswers() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// appender commits one sample per series and step of testSeries from a goroutine until
// stop, and returns how many steps it committed.
func appendUntil(t *testing.T, in *instance, series int, base int64) (stop func() int) {
	var (
		halt  atomic.Bool
		steps int
		done  = make(chan struct{})
	)
	lsets := testSeries(series)
	refs := make([]storage.SeriesRef, series)
	go func() {
		defer close(done)
		for !halt.Load() {
			app := in.c.Appendable().Appender(context.Background())
			for i, ls := range lsets {
				ref, err := app.Append(refs[i], ls, base+int64(steps)*1000, float64(steps))
				if err != nil {
					t.Error(err)
					return
				}
				refs[i] = ref
			}
			if err := app.Commit(); err != nil {
				t.Error(err)
				return
			}
			steps++
			time.Sleep(time.Millisecond)
		}
	}()
	return func() int {
		halt.Store(true)
		<-done
		return steps
	}
}

// TestKillResendsOnlyInFlight: across a kill (the data directory as SIGKILL leaves it,
// taken while samples flow and answers are in flight), the restarted component sends again
// at most the requests that were in flight, not the batches acknowledged since the marker
// was last fsynced; across a graceful stop and restart it sends nothing twice. Nothing is
// lost either way.
func TestKillResendsOnlyInFlight(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	g, gateURL := newGate(t, r.URL)
	const shards, perSend, series = 2, 50, 200
	args := testArgs(t, gateURL)
	args.Endpoint.Queue.Shards = shards
	args.Endpoint.Queue.MaxSamplesPerSend = perSend
	dir := t.TempDir()

	// Graceful: stop and restart while samples flow.
	in := start(t, dir, args, nil)
	stopAppending := appendUntil(t, in, series, 0)
	time.Sleep(300 * time.Millisecond)
	steps := stopAppending()
	in.stop(t)
	in = start(t, dir, args, nil)
	waitSamples(t, r, series*steps)
	unique, dups := r.Distinct()
	t.Logf("graceful restart: %d samples appended, %d delivered, %d duplicates", series*steps, unique, dups)
	require.Equal(t, series*steps, unique, "nothing lost")
	require.Zero(t, dups, "nothing sent twice across a graceful restart")

	// Kill: samples flow, then the answers are held (requests in flight) and the directory
	// is taken as it is at that moment.
	stopAppending = appendUntil(t, in, series, int64(steps)*1000)
	time.Sleep(500 * time.Millisecond)
	sentBefore := testutil.ToFloat64(in.em().samplesSent)
	g.close()
	require.Eventually(t, func() bool { return g.heldAnswers() == shards }, 10*time.Second, time.Millisecond,
		"every shard has a request in flight")
	steps2 := stopAppending()
	time.Sleep(100 * time.Millisecond) // the acknowledgements before are saved (microseconds)
	killed := t.TempDir()
	copyDir(t, dir, killed)
	g.killed.Store(true) // the killed process sends nothing more
	g.open()
	in.stop(t)

	direct := testArgs(t, r.URL)
	direct.Endpoint.Queue = args.Endpoint.Queue
	start(t, killed, direct, nil)
	appended := series * (steps + steps2)
	waitSamples(t, r, appended)
	require.Eventually(t, func() bool { u, _ := r.Distinct(); return u == appended }, 30*time.Second, 5*time.Millisecond)
	unique, dups = r.Distinct()
	t.Logf("kill: %d samples appended, %d delivered, %d duplicates (%d samples acknowledged before the kill; in flight at most %d)",
		appended, unique, dups, int(sentBefore), shards*perSend)
	require.Equal(t, appended, unique, "nothing lost")
	require.LessOrEqual(t, dups, shards*perSend, "only the requests in flight are sent again")
}

// TestShutdownWithinBudget: with the receiver hanging, stopping the agent ends the last
// sends at the controller's shutdown deadline (not after the one-minute flush and the
// in-flight grace of before); the component saves its marker and returns in time, and the
// unsent samples stay in the WAL: after a restart with the receiver back, every sample is
// delivered, none twice.
func TestShutdownWithinBudget(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	var hang atomic.Bool
	hung := make(chan struct{})
	t.Cleanup(func() { close(hung) })
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if hang.Load() {
			_, _ = io.Copy(io.Discard, req.Body)
			select {
			case <-hung:
			case <-req.Context().Done():
			}
			return
		}
		proxyTo(t, r.URL).ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)

	root := t.TempDir()
	args := testArgs(t, front.URL+remotewritetest.WritePath)
	args.Endpoint.RemoteTimeout = model.Duration(time.Hour)
	logs := &pipelinetest.LogBuffer{}
	var app pipeline.Appendable
	running := make(chan struct{})
	reg, err := pipeline.NewRegistry(Registration, pipeline.Registration{
		Type: "test.handle",
		Args: func() pipeline.Arguments { return &appendArgs{} },
		New: func(o pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
			app = o.Host.Appendable(a.(*appendArgs).ForwardTo) // the test appends through it
			return waitComponent{running: running}, nil
		},
	})
	require.NoError(t, err)
	const budget = 2 * time.Second
	ctl := pipeline.NewController(pipeline.ControllerOptions{
		Registry: reg, Logger: logs.Logger(slog.LevelInfo), Registerer: prometheus.NewRegistry(),
		DataPath: root, ShutdownTimeout: budget,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ctl.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	require.NoError(t, ctl.Apply([]pipeline.Spec{
		{ID: "test.handle/h", Type: "test.handle", Name: "h", Args: &appendArgs{ForwardTo: []string{"prometheus.remote_write/rw"}}},
		{ID: "prometheus.remote_write/rw", Type: "prometheus.remote_write", Name: "rw", Args: args},
	}))
	<-running // once prometheus.remote_write is ready
	commit := func(series, step int) {
		a := app.Appender(context.Background())
		for i, ls := range testSeries(series) {
			_, err := a.Append(0, ls, int64(step)*1000, float64(i))
			require.NoError(t, err)
		}
		require.NoError(t, a.Commit())
	}
	for step := range 5 {
		commit(50, step)
	}
	waitSamples(t, r, 250)
	hang.Store(true)
	for step := 5; step < 10; step++ {
		commit(50, step)
	}
	time.Sleep(100 * time.Millisecond) // a request hangs

	stopped := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(budget + 10*time.Second):
		t.Fatal("the controller did not return")
	}
	took := time.Since(stopped)
	t.Logf("stopped in %v (budget %v)", took.Round(time.Millisecond), budget)
	require.Less(t, took, budget+time.Second)
	require.Contains(t, logs.String(), `msg="component stopped" component=prometheus.remote_write/rw`)
	require.NotContains(t, logs.String(), "did not stop in time")
	require.Equal(t, 250, r.SampleCount(), "nothing more was delivered")

	hang.Store(false)
	start(t, filepath.Join(root, "prometheus.remote_write", "rw"), args, nil)
	waitSamples(t, r, 500)
	requireExactly(t, r, 50, 10)
}

// waitComponent closes running when its Run starts, then runs until stopped.
type waitComponent struct{ running chan struct{} }

func (w waitComponent) Run(ctx context.Context) error {
	close(w.running)
	<-ctx.Done()
	return nil
}

func proxyTo(t *testing.T, target string) http.Handler {
	u, err := url.Parse(target)
	require.NoError(t, err)
	return &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.URL.Path = u.Path }}
}
