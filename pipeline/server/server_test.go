package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/pipeline"
)

type secretArgs struct {
	User     string           `yaml:"user"`
	Password commoncfg.Secret `yaml:"password"`
}

func (a *secretArgs) Validate() error { return nil }

type handlerComp struct{}

func (handlerComp) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (handlerComp) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "component saw "+r.URL.Path) })
}

func newTestServer(t *testing.T, loadErr *error) (*httptest.Server, context.CancelFunc) {
	reg, err := pipeline.NewRegistry(pipeline.Registration{
		Type: "test.thing", Args: func() pipeline.Arguments { return &secretArgs{} },
		New: func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) { return handlerComp{}, nil },
	})
	require.NoError(t, err)
	promReg := prometheus.NewRegistry()
	c := pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Logger: slog.New(slog.DiscardHandler), Registerer: promReg, DataPath: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	specs := []pipeline.Spec{{ID: "test.thing/a", Type: "test.thing", Name: "a", Args: &secretArgs{User: "u", Password: "hunter2"}, Fingerprint: "1"}}
	r := pipeline.NewReloader(c, func() (string, []pipeline.Spec, error) { return "test.yaml", specs, *loadErr }, promReg)
	srv := httptest.NewServer(New(c, r, promReg, slog.New(slog.DiscardHandler), "test").Handler())
	return srv, func() { srv.Close(); cancel(); <-done }
}

func TestServer(t *testing.T) {
	var loadErr error
	srv, stop := newTestServer(t, &loadErr)
	defer stop()

	code, _ := backendtest.Fetch(t, "GET", srv.URL+"/-/ready")
	require.Equal(t, http.StatusServiceUnavailable, code, "not ready before the first load")
	code, _ = backendtest.Fetch(t, "GET", srv.URL+"/-/healthy")
	require.Equal(t, http.StatusOK, code)

	code, body := backendtest.Fetch(t, "POST", srv.URL+"/-/reload")
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool { c, _ := backendtest.Fetch(t, "GET", srv.URL+"/-/ready"); return c == http.StatusOK }, 5e9, 1e7)

	code, _ = backendtest.Fetch(t, "GET", srv.URL+"/-/reload")
	require.Equal(t, http.StatusMethodNotAllowed, code)

	code, body = backendtest.Fetch(t, "GET", srv.URL+"/api/v1/components")
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, "hunter2")
	var comps []ComponentJSON
	require.NoError(t, json.Unmarshal([]byte(body), &comps))
	require.Len(t, comps, 1)
	require.Equal(t, "test.thing/a", comps[0].ID)
	require.Equal(t, map[string]any{"user": "u", "password": "<secret>"}, comps[0].Arguments)

	code, body = backendtest.Fetch(t, "GET", srv.URL+"/api/v1/components/test.thing/a")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"id": "test.thing/a"`)

	code, body = backendtest.Fetch(t, "GET", srv.URL+"/api/v1/components/test.thing/a/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "component saw /metrics", body)

	code, _ = backendtest.Fetch(t, "GET", srv.URL+"/api/v1/components/test.thing/nope")
	require.Equal(t, http.StatusNotFound, code)

	// A rejected reload: 400 with the error, recorded, and the graph unchanged.
	loadErr = errors.New("test.yaml:3: test.thing/a: bad")
	code, body = backendtest.Fetch(t, "POST", srv.URL+"/-/reload")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "test.yaml:3: test.thing/a: bad")
	code, body = backendtest.Fetch(t, "GET", srv.URL+"/api/v1/status/reload")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"success": false`)

	code, body = backendtest.Fetch(t, "GET", srv.URL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `sonde_config_last_reload_successful 0`)
	require.Contains(t, body, `sonde_component_health{component_id="test.thing/a",state="healthy",type="test.thing"} 1`)
	require.True(t, strings.Contains(body, `sonde_config_reloads_total{result="failure"} 1`))

	code, _ = backendtest.Fetch(t, "GET", srv.URL+"/debug/pprof/")
	require.Equal(t, http.StatusOK, code)
}

type failingComp struct{ err error }

func (f failingComp) Run(context.Context) error { return f.err }

// TestReadyCrashLoop: a crash-looping component makes /-/ready answer 503 naming it and its
// error; /-/healthy stays 200, because restarting the pod would not free the port.
func TestReadyCrashLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, err := pipeline.NewRegistry(pipeline.Registration{
			Type: "test.listener", Args: func() pipeline.Arguments { return &secretArgs{} },
			New: func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) {
				return failingComp{errors.New("listen tcp :4318: bind: address already in use")}, nil
			},
		})
		require.NoError(t, err)
		promReg := prometheus.NewRegistry()
		c := pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Logger: slog.New(slog.DiscardHandler), Registerer: promReg, DataPath: t.TempDir()})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		specs := []pipeline.Spec{{ID: "test.listener/otlp", Type: "test.listener", Name: "otlp", Args: &secretArgs{}, Fingerprint: "1"}}
		r := pipeline.NewReloader(c, func() (string, []pipeline.Spec, error) { return "test.yaml", specs, nil }, promReg)
		require.NoError(t, r.Reload("startup"))
		h := New(c, r, promReg, slog.New(slog.DiscardHandler), "test").Handler()
		serve := func(path string) (int, string) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			return rec.Code, rec.Body.String()
		}

		synctest.Wait()
		code, body := serve("/-/ready")
		require.Equal(t, http.StatusOK, code, "one failed run is not a crash loop: %s", body)

		time.Sleep(time.Minute)
		synctest.Wait()
		code, body = serve("/-/ready")
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Contains(t, body, "test.listener/otlp is crash-looping")
		require.Contains(t, body, "bind: address already in use")
		code, _ = serve("/-/healthy")
		require.Equal(t, http.StatusOK, code)

		code, body = serve("/api/v1/components")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `"crash_loop": "`)
		code, body = serve("/metrics")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, `sonde_component_crash_looping{component_id="test.listener/otlp",type="test.listener"} 1`)
		require.Regexp(t, `sonde_component_restarts_total\{component_id="test.listener/otlp",type="test.listener"\} [1-9]`, body)
	})
}
