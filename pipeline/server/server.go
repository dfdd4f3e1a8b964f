// Package server is sonde's HTTP server: the UI, its own metrics, health and readiness,
// reload, the components API with live data, the components' own handlers, and pprof.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline"
)

// Server serves sonde's HTTP endpoints.
type Server struct {
	c        *pipeline.Controller
	reloader *pipeline.Reloader
	gatherer prometheus.Gatherer
	logger   *slog.Logger
	version  string
	mux      *http.ServeMux

	rates     rates
	liveSlots chan struct{} // one per connected live viewer
}

// New returns a server for the controller c.
func New(c *pipeline.Controller, r *pipeline.Reloader, g prometheus.Gatherer, logger *slog.Logger, version string) *Server {
	s := &Server{c: c, reloader: r, gatherer: g, logger: logger, version: version, mux: http.NewServeMux(),
		liveSlots: make(chan struct{}, maxLiveWatchers)}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slogErrorLog{logger}}))
	s.mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "sonde is healthy.")
	})
	s.mux.HandleFunc("GET /-/ready", s.ready)
	s.mux.HandleFunc("POST /-/reload", s.reload)
	s.mux.HandleFunc("PUT /-/reload", s.reload)
	s.mux.HandleFunc("GET /api/v1/components", s.components)
	s.mux.HandleFunc("GET /api/v1/status/reload", s.reloadStatus)
	s.mux.HandleFunc("GET /api/v1/status/build", s.buildStatus)
	s.mux.HandleFunc("GET /api/v1/edges", s.edges)
	s.mux.HandleFunc("GET /api/v1/live/{type}/{name}", s.live)
	s.mux.HandleFunc("/api/v1/components/", s.component)
	s.mux.Handle("GET /ui/", uiAssets())
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.mux.HandleFunc("GET /{$}", s.index)
	return s
}

// Handler returns the server's handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Requests live in baseCtx, which shutting down cancels: live streams never end on
	// their own and must not hold the shutdown up.
	baseCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return baseCtx }}
	srv.RegisterOnShutdown(cancelRequests)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			s.sampleRates()
		case err := <-errc:
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := srv.Shutdown(sctx)
			<-errc
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			return err
		}
	}
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if st := s.reloader.Status(); st.Time.IsZero() {
		http.Error(w, "configuration not loaded yet", http.StatusServiceUnavailable)
		return
	}
	if ok, why := s.c.Ready(); !ok {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "sonde is ready.")
}

func (s *Server) reload(w http.ResponseWriter, _ *http.Request) {
	if err := s.reloader.Reload("http"); err != nil {
		s.logger.Error("configuration reload failed; keeping the running graph", "trigger", "http", "err", err)
		http.Error(w, "reload failed, running configuration unchanged:\n"+err.Error(), http.StatusBadRequest)
		return
	}
	s.logger.Info("configuration reloaded", "trigger", "http")
	fmt.Fprintln(w, "configuration reloaded")
}

func (s *Server) reloadStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, s.reloader.Status())
}

// ComponentJSON is the API representation of a component.
type ComponentJSON struct {
	ID         string                `json:"id"`
	Type       string                `json:"type"`
	Health     pipeline.HealthStatus `json:"health"`
	Arguments  any                   `json:"arguments"`
	References []pipeline.Reference  `json:"references"`
	Exports    []pipeline.EdgeKind   `json:"exports"`
	// Restarts counts the restarts after a failed Run (sonde_component_restarts_total).
	Restarts uint64 `json:"restarts"`
	// CrashLoop is the last error while the component is crash-looping, which makes the
	// agent unready; absent otherwise.
	CrashLoop string `json:"crash_loop,omitempty"`
}

func toJSON(ci pipeline.ComponentInfo) ComponentJSON {
	args, err := Redacted(ci.Arguments)
	if err != nil {
		args = map[string]string{"error": err.Error()}
	}
	refs := []pipeline.Reference{}
	for _, r := range ci.References {
		if len(r.IDs) > 0 {
			refs = append(refs, r)
		}
	}
	exports := ci.Exports
	if exports == nil {
		exports = []pipeline.EdgeKind{}
	}
	out := ComponentJSON{ID: ci.ID, Type: ci.Type, Health: ci.Health, Arguments: args, References: refs, Exports: exports,
		Restarts: ci.Restarts}
	if ci.CrashLoop != nil {
		out.CrashLoop = fmt.Sprintf("%d failed runs in a row: %v", ci.FailedRuns, ci.CrashLoop)
	}
	return out
}

func (s *Server) components(w http.ResponseWriter, _ *http.Request) {
	comps := s.c.Components()
	out := make([]ComponentJSON, 0, len(comps))
	for _, ci := range comps {
		out = append(out, toJSON(ci))
	}
	writeJSON(w, out)
}

// component serves /api/v1/components/<type>/<name> (JSON) and everything below it (the
// component's own handler).
func (s *Server) component(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/v1/components/")
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		http.Error(w, "expected /api/v1/components/<type>/<name>[/...]", http.StatusNotFound)
		return
	}
	id := parts[0] + "/" + parts[1]
	if len(parts) == 3 {
		s.c.ServeComponent(w, r, id)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.details(w, id)
}

func (s *Server) buildStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]string{"version": s.version})
}

// index serves the UI to browsers and a plain-text summary to everything else (curl).
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		serveUI(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "sonde %s\n\n", s.version)
	for _, ci := range s.c.Components() {
		fmt.Fprintf(w, "%-50s %-10s %s\n", ci.ID, ci.Health.State, ci.Health.Message)
	}
	fmt.Fprintln(w, "\n/metrics  /-/healthy  /-/ready  POST /-/reload  /api/v1/components[/<type>/<name>]  /api/v1/edges")
	fmt.Fprintln(w, "/api/v1/live/<type>/<name>  /api/v1/status/reload  /debug/pprof/  (open / in a browser for the UI)")
}

// Redacted returns the arguments as plain data for JSON, with secrets shown as <secret>:
// they are marshalled through YAML, where Prometheus' config.Secret prints as "<secret>".
func Redacted(a pipeline.Arguments) (any, error) {
	if a == nil {
		return map[string]any{}, nil
	}
	b, err := yaml.Marshal(a)
	if err != nil {
		return nil, err
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "<secret>" stays readable
	_ = enc.Encode(v)
}

type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Println(v ...any) { s.l.Error("metrics handler error", "err", fmt.Sprint(v...)) }
