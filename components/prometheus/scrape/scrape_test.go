package scrape

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

const (
	testID   = "prometheus.scrape/test"
	wait     = 10 * time.Second
	tick     = 10 * time.Millisecond
	fastArgs = "forward_to: [sink/a]\nscrape_interval: 100ms\n"
)

// exporter is a test target: it records every request and answers with handler.
type exporter struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newExporter(t *testing.T, tls bool, handler http.HandlerFunc) *exporter {
	t.Helper()
	e := &exporter{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.reqs = append(e.reqs, r.Clone(context.Background()))
		e.mu.Unlock()
		handler(w, r)
	})
	e.srv = httptest.NewUnstartedServer(h)
	// Refused handshakes are part of some tests; keep them out of the output.
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(e.srv.Close)
	return e
}

// text answers with a Prometheus text exposition.
func text(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(body))
	}
}

func (e *exporter) addr() string { return e.srv.Listener.Addr().String() }

func (e *exporter) requests() []*http.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*http.Request(nil), e.reqs...)
}

// caFile writes the exporter's self-signed certificate as a PEM CA file.
func (e *exporter) caFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(path, pemBytes, 0o600))
	return path
}

// start runs a component on host until the test ends.
func start(t *testing.T, host pipeline.Host, args *Arguments) *Component {
	t.Helper()
	opts := pipelinetest.Options(t, testID, pipelinetest.NewHost())
	opts.Host = host
	c, err := New(opts, args)
	require.NoError(t, err)
	pipelinetest.Run(t, c)
	return c
}

// sample waits for a sample of metric name whose labels include want, and returns it.
func sample(t *testing.T, sink *pipelinetest.Sink, name string, want map[string]string) pipelinetest.Sample {
	t.Helper()
	var found pipelinetest.Sample
	require.Eventually(t, func() bool {
		for _, s := range sink.Samples() {
			if s.Labels.Get(model.MetricNameLabel) != name {
				continue
			}
			ok := true
			for k, v := range want {
				if s.Labels.Get(k) != v {
					ok = false
					break
				}
			}
			if ok {
				found = s
				return true
			}
		}
		return false
	}, wait, tick, "no sample %s%v", name, want)
	return found
}

func TestScrape(t *testing.T) {
	t.Run("static target: job, instance, labels, up", func(t *testing.T) {
		e := newExporter(t, false, text("test_metric 42\n"))
		host := pipelinetest.NewHost()
		start(t, host, decode(t, fastArgs+fmt.Sprintf("static_configs: [{targets: [%q], labels: {env: prod}}]", e.addr())))
		s := sample(t, host.Sink, "test_metric", map[string]string{"job": testID, "instance": e.addr(), "env": "prod"})
		require.Equal(t, 42.0, s.V)
		s = sample(t, host.Sink, "up", map[string]string{"job": testID, "instance": e.addr()})
		require.Equal(t, 1.0, s.V)
		require.Equal(t, "/metrics", e.requests()[0].URL.Path)
	})

	for _, honor := range []bool{false, true} {
		t.Run(fmt.Sprintf("honor_labels=%v", honor), func(t *testing.T) {
			e := newExporter(t, false, text(`test_metric{job="exposed",instance="elsewhere"} 1`+"\n"))
			host := pipelinetest.NewHost()
			start(t, host, decode(t, fastArgs+fmt.Sprintf("job_name: node\nhonor_labels: %v\nstatic_configs: [{targets: [%q]}]", honor, e.addr())))
			if honor {
				sample(t, host.Sink, "test_metric", map[string]string{"job": "exposed", "instance": "elsewhere"})
			} else {
				sample(t, host.Sink, "test_metric", map[string]string{"job": "node", "exported_job": "exposed", "instance": e.addr(), "exported_instance": "elsewhere"})
			}
		})
	}

	t.Run("bearer_token_file", func(t *testing.T) {
		token := filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(token, []byte("s3cret\n"), 0o600))
		e := newExporter(t, false, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			text("ok 1\n")(w, r)
		})
		host := pipelinetest.NewHost()
		start(t, host, decode(t, fastArgs+fmt.Sprintf("bearer_token_file: %q\nstatic_configs: [{targets: [%q]}]", token, e.addr())))
		sample(t, host.Sink, "ok", nil)
		require.Equal(t, "Bearer s3cret", e.requests()[0].Header.Get("Authorization"))
	})

	t.Run("basic_auth", func(t *testing.T) {
		e := newExporter(t, false, func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "pw" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			text("ok 1\n")(w, r)
		})
		host := pipelinetest.NewHost()
		start(t, host, decode(t, fastArgs+fmt.Sprintf("basic_auth: {username: admin, password: pw}\nstatic_configs: [{targets: [%q]}]", e.addr())))
		sample(t, host.Sink, "ok", nil)
		sample(t, host.Sink, "up", map[string]string{"instance": e.addr()})
	})

	t.Run("tls with a self-signed CA", func(t *testing.T) {
		e := newExporter(t, true, text("secure 1\n"))
		host := pipelinetest.NewHost()
		start(t, host, decode(t, fastArgs+fmt.Sprintf("scheme: https\ntls_config: {ca_file: %q}\nstatic_configs: [{targets: [%q]}]", e.caFile(t), e.addr())))
		sample(t, host.Sink, "secure", nil)
		require.Equal(t, 1.0, sample(t, host.Sink, "up", nil).V)
	})

	t.Run("tls without the CA fails", func(t *testing.T) {
		e := newExporter(t, true, text("secure 1\n"))
		host := pipelinetest.NewHost()
		c := start(t, host, decode(t, fastArgs+fmt.Sprintf("scheme: https\nstatic_configs: [{targets: [%q]}]", e.addr())))
		require.Equal(t, 0.0, sample(t, host.Sink, "up", nil).V)
		require.Eventually(t, func() bool {
			ts := c.Targets()
			return len(ts) == 1 && strings.Contains(ts[0].LastError, "certificate")
		}, wait, tick)
	})

	t.Run("timeout gives up=0", func(t *testing.T) {
		e := newExporter(t, false, func(_ http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // never answers; the scrape times out
		})
		host := pipelinetest.NewHost()
		c := start(t, host, decode(t, fastArgs+fmt.Sprintf("scrape_timeout: 50ms\nstatic_configs: [{targets: [%q]}]", e.addr())))
		require.Equal(t, 0.0, sample(t, host.Sink, "up", nil).V)
		require.Eventually(t, func() bool {
			ts := c.Targets()
			return len(ts) == 1 && ts[0].Health == "down" && ts[0].LastError != ""
		}, wait, tick)
	})

	t.Run("malformed body gives up=0", func(t *testing.T) {
		e := newExporter(t, false, text("this is { not an exposition\n\x00\xff"))
		host := pipelinetest.NewHost()
		c := start(t, host, decode(t, fastArgs+fmt.Sprintf("static_configs: [{targets: [%q]}]", e.addr())))
		require.Equal(t, 0.0, sample(t, host.Sink, "up", nil).V)
		require.Eventually(t, func() bool {
			ts := c.Targets()
			return len(ts) == 1 && ts[0].Health == "down"
		}, wait, tick)
	})

	t.Run("missing content type uses the fallback protocol", func(t *testing.T) {
		e := newExporter(t, false, func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = w.Write([]byte("plain 7\n"))
		})
		host := pipelinetest.NewHost()
		start(t, host, decode(t, fastArgs+fmt.Sprintf("static_configs: [{targets: [%q]}]", e.addr())))
		require.Equal(t, 7.0, sample(t, host.Sink, "plain", nil).V)
	})

	t.Run("__metrics_path__, __param_ and __scheme__ from target labels", func(t *testing.T) {
		e := newExporter(t, true, text("probed 1\n"))
		host := pipelinetest.NewHost()
		host.SetTargets("discovery.x/y", pipeline.Targets{{
			model.AddressLabel:     model.LabelValue(e.addr()),
			model.MetricsPathLabel: "/custom",
			model.SchemeLabel:      "https",
			"__param_module":       "from_label",
		}})
		start(t, host, decode(t, fastArgs+fmt.Sprintf("targets: [discovery.x/y]\nparams: {module: [from_args], other: [x]}\ntls_config: {ca_file: %q}", e.caFile(t))))
		sample(t, host.Sink, "probed", nil)
		r := e.requests()[0]
		require.Equal(t, "/custom", r.URL.Path)
		require.Equal(t, "from_label", r.URL.Query().Get("module"))
		require.Equal(t, "x", r.URL.Query().Get("other"))
	})
}

func TestTargetsViewUpdates(t *testing.T) {
	a := newExporter(t, false, text("from_a 1\n"))
	b := newExporter(t, false, text("from_b 1\n"))
	host := pipelinetest.NewHost()
	c := start(t, host, decode(t, fastArgs+"targets: [discovery.x/y, discovery.x/z]"))

	urls := func() []string {
		var out []string
		for _, s := range c.Targets() {
			out = append(out, s.URL)
		}
		return out
	}
	host.SetTargets("discovery.x/y", pipeline.Targets{{model.AddressLabel: model.LabelValue(a.addr()), "team": "a"}})
	sample(t, host.Sink, "from_a", map[string]string{"team": "a", "instance": a.addr()})

	// Another publisher adds a target.
	host.SetTargets("discovery.x/z", pipeline.Targets{{model.AddressLabel: model.LabelValue(b.addr())}})
	sample(t, host.Sink, "from_b", map[string]string{"instance": b.addr()})
	require.Eventually(t, func() bool { return len(urls()) == 2 }, wait, tick)

	// The first target goes away.
	host.SetTargets("discovery.x/y", nil)
	want := []string{"http://" + b.addr() + "/metrics"}
	require.Eventually(t, func() bool { return fmt.Sprint(urls()) == fmt.Sprint(want) }, wait, tick)
	n := len(a.requests())
	// b keeps being scraped; a is not scraped any more (at most one scrape was in flight).
	before := len(b.requests())
	require.Eventually(t, func() bool { return len(b.requests()) >= before+3 }, wait, tick)
	require.LessOrEqual(t, len(a.requests()), n+1)
}

// sinksHost hands out a separate sink per forward_to list (keyed by its first id).
type sinksHost struct {
	*pipelinetest.Host
	mu    sync.Mutex
	sinks map[string]*pipelinetest.Sink
}

func newSinksHost() *sinksHost {
	return &sinksHost{Host: pipelinetest.NewHost(), sinks: map[string]*pipelinetest.Sink{}}
}

func (h *sinksHost) Appendable(ids []string) pipeline.Appendable { return h.sink(ids[0]) }

func (h *sinksHost) sink(id string) *pipelinetest.Sink {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sinks[id] == nil {
		h.sinks[id] = pipelinetest.NewSink()
	}
	return h.sinks[id]
}

var _ storage.Appendable = (*pipelinetest.Sink)(nil)

func TestUpdate(t *testing.T) {
	e := newExporter(t, false, text("m 1\n"))
	host := newSinksHost()
	static := fmt.Sprintf("static_configs: [{targets: [%q]}]\n", e.addr())
	c := start(t, host, decode(t, fastArgs+static))
	reg := c.opts.Registerer.(*prometheus.Registry)
	sample(t, host.sink("sink/a"), "m", nil)
	require.Equal(t, 1.0, pipelinetest.MetricSum(t, reg, "prometheus_target_scrape_pools_total"))

	t.Run("unchanged arguments change nothing", func(t *testing.T) {
		require.NoError(t, c.Update(decode(t, fastArgs+static)))
		n := len(e.requests())
		require.Eventually(t, func() bool { return len(e.requests()) >= n+2 }, wait, tick)
		require.Equal(t, 0.0, pipelinetest.MetricSum(t, reg, "prometheus_target_scrape_pool_reloads_total"))
		require.Equal(t, 1.0, pipelinetest.MetricSum(t, reg, "prometheus_target_scrape_pools_total"))
	})

	t.Run("scrape settings apply in place", func(t *testing.T) {
		require.NoError(t, c.Update(decode(t, fastArgs+static+"metrics_path: /other")))
		require.Eventually(t, func() bool {
			rs := e.requests()
			return rs[len(rs)-1].URL.Path == "/other"
		}, wait, tick)
		require.Equal(t, 1.0, pipelinetest.MetricSum(t, reg, "prometheus_target_scrape_pool_reloads_total"), "pool reloaded, not replaced")
		require.Equal(t, 1.0, pipelinetest.MetricSum(t, reg, "prometheus_target_scrape_pools_total"))
	})

	t.Run("job_name change replaces the pool", func(t *testing.T) {
		require.NoError(t, c.Update(decode(t, fastArgs+static+"job_name: renamed")))
		sample(t, host.sink("sink/a"), "m", map[string]string{"job": "renamed"})
		require.Eventually(t, func() bool { return len(c.Targets()) == 1 }, wait, tick)
	})

	t.Run("forward_to switches destination", func(t *testing.T) {
		require.NoError(t, c.Update(decode(t, strings.Replace(fastArgs, "sink/a", "sink/b", 1)+static)))
		sample(t, host.sink("sink/b"), "m", map[string]string{"job": testID})
		require.Eventually(t, func() bool { return len(c.Targets()) == 1 }, wait, tick)
	})

	t.Run("invalid arguments are refused", func(t *testing.T) {
		args := decode(t, fastArgs+static)
		args.Scheme = "gopher"
		require.Error(t, Registration.Update(c, args), "Validate, done by the registration")
		args = decode(t, fastArgs+static+"tls_config: {ca_file: /does/not/exist}")
		require.ErrorContains(t, c.Update(args), "/does/not/exist")
	})
}

func TestHandler(t *testing.T) {
	e := newExporter(t, false, text("m 1\n"))
	host := pipelinetest.NewHost()
	c := start(t, host, decode(t, fastArgs+fmt.Sprintf("static_configs: [{targets: [%q], labels: {env: prod}}]", e.addr())))
	sample(t, host.Sink, "up", nil)
	require.Eventually(t, func() bool {
		ts := c.Targets()
		return len(ts) == 1 && ts[0].Health == "up"
	}, wait, tick)

	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var got struct {
		Targets []map[string]any `json:"targets"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Len(t, got.Targets, 1)
	require.Equal(t, "up", got.Targets[0]["health"])
	require.Equal(t, map[string]any{"env": "prod", "instance": e.addr(), "job": testID}, got.Targets[0]["labels"])
}

// TestTwoComponentsOneRegistry: the scrape managers of two components register the same
// metric names; the controller's per-component labels keep them apart. A stopped component
// unregisters its scrape manager's metrics (managers restart within Run, on the same
// registerer); its own metrics, registered in New, are the controller's to remove.
func TestTwoComponentsOneRegistry(t *testing.T) {
	e := newExporter(t, false, text("m 1\n"))
	reg := prometheus.NewRegistry()
	args := fmt.Sprintf("%sstatic_configs: [{targets: [%q]}]", fastArgs, e.addr())
	runOnce := func(id string) (context.CancelFunc, chan error, *pipelinetest.Host) {
		host := pipelinetest.NewHost()
		opts := pipelinetest.Options(t, id, host)
		opts.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"component": id}, reg)
		c, err := New(opts, decode(t, args))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return cancel, done, host
	}
	cancelA, doneA, hostA := runOnce("prometheus.scrape/a")
	cancelB, doneB, hostB := runOnce("prometheus.scrape/b")
	sample(t, hostA.Sink, "m", nil)
	sample(t, hostB.Sink, "m", nil)

	components := func(name string) []string {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		var out []string
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "component" {
						out = append(out, l.GetValue())
					}
				}
			}
		}
		return out
	}
	require.ElementsMatch(t, []string{"prometheus.scrape/a", "prometheus.scrape/b"}, components("sonde_prometheus_scrape_targets"))
	require.ElementsMatch(t, []string{"prometheus.scrape/a", "prometheus.scrape/b"}, components("prometheus_target_scrape_pools_total"))

	cancelA()
	require.NoError(t, <-doneA)
	require.Equal(t, []string{"prometheus.scrape/b"}, components("prometheus_target_scrape_pools_total"),
		"the stopped component's scrape manager metrics are unregistered")
	cancelB()
	require.NoError(t, <-doneB)
}

func TestLifecycle(t *testing.T) {
	pipelinetest.Lifecycle(t, Registration,
		decode(t, fastArgs+"targets: [discovery.x/y]\nstatic_configs: [{targets: ['127.0.0.1:1']}]"),
		decode(t, "forward_to: [sink/b]\nscrape_interval: 1s\nstatic_configs: [{targets: ['127.0.0.1:2']}]"))
}

// TestLifecycleScraping stops a component while it is scraping a live target.
func TestLifecycleScraping(t *testing.T) {
	e := newExporter(t, false, text("m 1\n"))
	pipelinetest.Lifecycle(t, Registration,
		decode(t, fastArgs+fmt.Sprintf("static_configs: [{targets: [%q]}]", e.addr())),
		decode(t, fastArgs+fmt.Sprintf("static_configs: [{targets: [%q]}]\nmetrics_path: /x", e.addr())))
}
