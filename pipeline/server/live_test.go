package server

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// A small flowing graph: test.disc publishes a target to test.src, which appends one sample
// every few milliseconds to test.sink.

type flowArgs struct {
	Targets   []string `yaml:"targets"`
	ForwardTo []string `yaml:"forward_to"`
}

func (a *flowArgs) Validate() error { return nil }
func (a *flowArgs) References() []pipeline.Reference {
	return []pipeline.Reference{
		{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets},
		{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo},
	}
}

type flowSrc struct {
	app     pipeline.Appendable
	appends prometheus.Counter
}

func (s *flowSrc) Run(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		a := s.app.Appender(ctx)
		_, _ = a.Append(0, labels.FromStrings("__name__", "flow_total", "n", "x"), time.Now().UnixMilli(), float64(i))
		_ = a.Commit()
		s.appends.Inc()
	}
}

type noArgs struct{}

func (noArgs) Validate() error { return nil }

type idleComp struct{}

func (idleComp) Run(ctx context.Context) error { <-ctx.Done(); return nil }

type sinkComp struct {
	idleComp
	s *pipelinetest.Sink
}

func (c sinkComp) Appendable() pipeline.Appendable { return c.s }

type debugComp struct {
	idleComp
	pipeline.TargetsPublisher
}

func (*debugComp) DebugInfo() any {
	return map[string]any{"files": []map[string]any{{"path": "/var/log/a.log", "offset": 42}}}
}

func newFlowServer(t *testing.T) (*Server, *httptest.Server, func()) {
	reg, err := pipeline.NewRegistry(
		pipeline.Registration{Type: "test.disc", Args: func() pipeline.Arguments { return noArgs{} },
			Exports: []pipeline.EdgeKind{pipeline.KindTargets},
			New: func(o pipeline.Options, _ pipeline.Arguments) (pipeline.Component, error) {
				d := &debugComp{}
				d.Publish(pipeline.Targets{{model.AddressLabel: "127.0.0.1:9100"}})
				return d, nil
			}},
		pipeline.Registration{Type: "test.src", Args: func() pipeline.Arguments { return &flowArgs{} },
			New: func(o pipeline.Options, a pipeline.Arguments) (pipeline.Component, error) {
				s := &flowSrc{app: o.Host.Appendable(a.(*flowArgs).ForwardTo),
					appends: prometheus.NewCounter(prometheus.CounterOpts{Name: "test_appends_total", Help: "Appends."})}
				o.Registerer.MustRegister(s.appends)
				return s, nil
			}},
		pipeline.Registration{Type: "test.sink", Args: func() pipeline.Arguments { return noArgs{} },
			Exports: []pipeline.EdgeKind{pipeline.KindMetrics},
			New: func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) {
				return sinkComp{s: pipelinetest.NewSink()}, nil
			}},
	)
	require.NoError(t, err)
	promReg := prometheus.NewRegistry()
	c := pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Logger: slog.New(slog.DiscardHandler), Registerer: promReg, DataPath: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	specs := []pipeline.Spec{
		{ID: "test.disc/d", Type: "test.disc", Name: "d", Args: noArgs{}, Fingerprint: "d"},
		{ID: "test.src/a", Type: "test.src", Name: "a", Args: &flowArgs{Targets: []string{"test.disc/d"}, ForwardTo: []string{"test.sink/out"}}, Fingerprint: "a"},
		{ID: "test.sink/out", Type: "test.sink", Name: "out", Args: noArgs{}, Fingerprint: "out"},
	}
	r := pipeline.NewReloader(c, func() (string, []pipeline.Spec, error) { return "flow.yaml", specs, nil }, promReg)
	require.NoError(t, r.Reload("startup"))
	s := New(c, r, promReg, slog.New(slog.DiscardHandler), "test")
	srv := httptest.NewServer(s.Handler())
	return s, srv, func() { srv.Close(); cancel(); <-done }
}

func TestEdgesAndDetails(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	_, srv, stop := newFlowServer(t)
	defer stop()

	// Counts grow; a rate appears once the server has two counts a second apart.
	var edges []EdgeJSON
	require.Eventually(t, func() bool {
		backendtest.FetchJSON(t, srv.URL+"/api/v1/edges", &edges)
		for _, e := range edges {
			if e.Kind == pipeline.KindMetrics && e.Items > 0 && e.Rate != nil && *e.Rate > 0 {
				return true
			}
		}
		return false
	}, 10*time.Second, 100*time.Millisecond)
	require.Len(t, edges, 2)
	byKind := map[pipeline.EdgeKind]EdgeJSON{}
	for _, e := range edges {
		byKind[e.Kind] = e
	}
	require.Equal(t, pipeline.EdgeKey{From: "test.disc/d", To: "test.src/a", Kind: pipeline.KindTargets}, byKind[pipeline.KindTargets].EdgeKey)
	require.Equal(t, 1, byKind[pipeline.KindTargets].Targets)
	require.Nil(t, byKind[pipeline.KindTargets].Rate, "targets edges have no rate")
	require.Equal(t, pipeline.EdgeKey{From: "test.src/a", To: "test.sink/out", Kind: pipeline.KindMetrics}, byKind[pipeline.KindMetrics].EdgeKey)

	var d ComponentDetails
	backendtest.FetchJSON(t, srv.URL+"/api/v1/components/test.src/a", &d)
	require.Equal(t, "test.src/a", d.ID)
	require.Len(t, d.Edges, 2)
	require.Contains(t, d.Metrics, `test_appends_total{component_id="test.src/a"}`)
	require.Contains(t, d.Metrics, `sonde_component_health{component_id="test.src/a",state="healthy",type="test.src"} 1`)
	require.NotContains(t, d.Metrics, "test.sink/out")
	require.Nil(t, d.Targets)
	require.Nil(t, d.Debug)

	var disc ComponentDetails
	backendtest.FetchJSON(t, srv.URL+"/api/v1/components/test.disc/d", &disc)
	require.Equal(t, []model.LabelSet{{model.AddressLabel: "127.0.0.1:9100"}}, disc.Targets)
	require.Equal(t, map[string]any{"files": []any{map[string]any{"path": "/var/log/a.log", "offset": 42.0}}}, disc.Debug)
}

// readEvents reads SSE events from a live stream until n data events arrived.
func readEvents(t *testing.T, resp *http.Response, n int) []pipeline.LiveItem {
	t.Helper()
	var out []pipeline.LiveItem
	sc := bufio.NewScanner(resp.Body)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var it pipeline.LiveItem
			require.NoError(t, json.Unmarshal([]byte(data), &it))
			out = append(out, it)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func TestLive(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, srv, stop := newFlowServer(t)
	defer stop()

	for _, tc := range []struct {
		name, path string
		code       int
	}{
		{"unknown component", "/api/v1/live/test.src/nope", http.StatusNotFound},
		{"rate too low", "/api/v1/live/test.src/a?rate=0", http.StatusBadRequest},
		{"rate too high", "/api/v1/live/test.src/a?rate=101", http.StatusBadRequest},
		{"rate not a number", "/api/v1/live/test.src/a?rate=x", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := backendtest.Fetch(t, http.MethodGet, srv.URL+tc.path)
			require.Equal(t, tc.code, code)
		})
	}

	t.Run("a sink's stream shows what enters it", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/live/test.sink/out?rate=5", nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		items := readEvents(t, resp, 3)
		for _, it := range items {
			require.Equal(t, pipeline.EdgeKey{From: "test.src/a", To: "test.sink/out", Kind: pipeline.KindMetrics}, it.EdgeKey)
			require.Equal(t, `{__name__="flow_total", n="x"}`, it.Labels)
		}
	})

	t.Run("watchers are limited", func(t *testing.T) {
		require.Eventually(t, func() bool { return len(s.liveSlots) == 0 }, 5*time.Second, 10*time.Millisecond, "earlier streams ended")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for range maxLiveWatchers {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/live/test.src/a", nil)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		}
		code, body := backendtest.Fetch(t, http.MethodGet, srv.URL+"/api/v1/live/test.src/a")
		require.Equal(t, http.StatusServiceUnavailable, code, body)
	})
}

// Shutting the server down ends open live streams instead of waiting for them.
func TestServeShutdownEndsLiveStreams(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, srv, stop := newFlowServer(t)
	defer stop()
	srv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/v1/live/test.sink/out")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NotEmpty(t, readEvents(t, resp, 1))
	cancel()
	require.NoError(t, <-served, "shutdown did not wait for the stream to time out")
	http.DefaultClient.CloseIdleConnections()
}

func TestUIPages(t *testing.T) {
	var loadErr error
	srv, stop := newTestServer(t, &loadErr)
	defer stop()

	for _, tc := range []struct {
		name, path, accept, wantType, wantBody string
	}{
		{"a browser gets the UI", "/", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=utf-8", `<div id="graph">`},
		{"curl gets a summary", "/", "*/*", "text/plain; charset=utf-8", "sonde test"},
		{"script", "/ui/app.js", "*/*", "text/javascript; charset=utf-8", "api/v1/live/"},
		{"layout", "/ui/graph.js", "*/*", "text/javascript; charset=utf-8", "window.SondeGraph"},
		{"style", "/ui/style.css", "*/*", "text/css; charset=utf-8", ".banner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			req.Header.Set("Accept", tc.accept)
			resp, body, err := backendtest.DoResponse(req)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, tc.wantType, resp.Header.Get("Content-Type"))
			require.Contains(t, string(body), tc.wantBody)
			if tc.wantType != "text/plain; charset=utf-8" {
				require.Equal(t, uiCSP, resp.Header.Get("Content-Security-Policy"))
			}
		})
	}
	// Nothing in the pages comes from elsewhere: no CDN, no external fonts.
	for _, f := range []string{"ui/index.html", "ui/app.js", "ui/graph.js", "ui/style.css"} {
		b, err := uiFS.ReadFile(f)
		require.NoError(t, err)
		require.NotRegexp(t, `(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?https?:`, string(b), f)
	}
}

func TestRates(t *testing.T) {
	k := pipeline.EdgeKey{From: "a", To: "b", Kind: pipeline.KindLogs}
	at := func(sec float64) time.Time { return time.Unix(1000, 0).Add(time.Duration(sec * float64(time.Second))) }
	edge := func(n uint64) []pipeline.EdgeInfo { return []pipeline.EdgeInfo{{EdgeKey: k, Items: n}} }
	var r rates
	steps := []struct {
		t     float64
		items uint64
		want  *float64
	}{
		{0, 100, nil},         // one count: no rate yet
		{0.5, 150, nil},       // less than a second later: not recorded
		{1, 200, ptr(100.0)},  // (200-100)/1s
		{3, 400, ptr(100.0)},  // (400-100)/3s
		{6, 1000, ptr(160.0)}, // the oldest within 5s is t=1: (1000-200)/5s
		{30, 1000, nil},       // after a long silence the old counts are dropped
		{31, 1010, ptr(10.0)}, // and rates start over
		{32, 5, nil},          // the counter went back (the edge was recreated): no rate
	}
	for _, st := range steps {
		got, ok := r.update(edge(st.items), at(st.t))[k]
		if st.want == nil {
			require.False(t, ok, "t=%v: got %v", st.t, got)
			continue
		}
		require.True(t, ok, "t=%v", st.t)
		require.InDelta(t, *st.want, got, 1e-9, "t=%v", st.t)
	}
}

func ptr[T any](v T) *T { return &v }
