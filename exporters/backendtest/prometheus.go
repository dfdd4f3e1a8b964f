package backendtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian's package, installed by `make deps`) with
// the remote-write receiver on, listening on 127.0.0.1 only, its TSDB in a temporary
// directory that survives Restart.
type Prometheus struct {
	t    testing.TB
	bin  string
	Dir  string
	Port int

	flags   []string // beyond those every Prometheus gets
	scrapes string   // scrape_configs of its configuration file (YAML), if any
	proc    Process
}

// PrometheusOption changes how StartPrometheus3 runs Prometheus.
type PrometheusOption func(*Prometheus)

// WithScrapeConfigs makes Prometheus scrape: yaml is the list under scrape_configs (each
// item starting "- job_name: ...").
func WithScrapeConfigs(yaml string) PrometheusOption {
	return func(p *Prometheus) { p.scrapes = yaml }
}

// PrometheusBinary returns $SONDE_PROMETHEUS_BIN or the prometheus on PATH; a missing one
// fails the test, naming `make deps`.
func PrometheusBinary(t testing.TB) string {
	t.Helper()
	SkipShort(t, "Prometheus")
	return Installed(t, "prometheus", "SONDE_PROMETHEUS_BIN")
}

// StartPrometheus starts Prometheus and waits until it is ready; it stops when the test ends.
func StartPrometheus(t testing.TB) *Prometheus {
	t.Helper()
	return startPrometheus(t, &Prometheus{t: t, bin: PrometheusBinary(t), Dir: t.TempDir(), proc: Process{Name: "Prometheus"}})
}

// Prometheus3Version is the Prometheus 3 that StartPrometheus3 runs: the version of
// github.com/prometheus/prometheus in go.mod (v0.3XX.Y is Prometheus v3.XX.Y), which
// `make deps-prometheus3` builds.
const Prometheus3Version = "v0.316.0"

// StartPrometheus3 starts a Prometheus 3 (built by `make deps-prometheus3`, or
// $SONDE_PROMETHEUS3_BIN) like StartPrometheus: its remote-write receiver takes remote
// write 2.0 as well as 1.0 (the default of
// --web.remote-write-receiver.accepted-protobuf-messages) and answers with the
// X-Prometheus-Remote-Write-*-Written headers; with the type-and-unit-labels feature, the
// type and unit that 2.0 requests carry inline become the labels __type__ and __unit__ of
// the series written, the one place where remote-written metadata can be read back; with
// exemplar-storage, exemplars received are kept and served by /api/v1/query_exemplars.
func StartPrometheus3(t testing.TB, opts ...PrometheusOption) *Prometheus {
	t.Helper()
	SkipShort(t, "Prometheus 3")
	bin := Binary(t, "Prometheus 3", "SONDE_PROMETHEUS3_BIN", "prometheus", Prometheus3Version, "make deps-prometheus3")
	p := &Prometheus{t: t, bin: bin, Dir: t.TempDir(), proc: Process{Name: "Prometheus 3"},
		flags: []string{"--enable-feature=type-and-unit-labels,exemplar-storage"}}
	for _, o := range opts {
		o(p)
	}
	return startPrometheus(t, p)
}

func startPrometheus(t testing.TB, p *Prometheus) *Prometheus {
	t.Helper()
	StartOnFreePorts(t, &p.proc, func() { p.Port = FreePort(t) }, p.start)
	p.proc.StopAtEnd(t, func() { p.proc.Stop(30 * time.Second) })
	return p
}

// Stop shuts Prometheus down gracefully (SIGTERM, SIGKILL after 90 s); its TSDB keeps what
// it received. Stopping twice is fine.
func (p *Prometheus) Stop() { p.proc.Stop(90 * time.Second) }

// Restart starts a stopped Prometheus again on the same port and directory.
func (p *Prometheus) Restart() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatalf("restart Prometheus: %v\n%s", err, p.proc.Output())
	}
}

// URL is the server's base URL.
func (p *Prometheus) URL() string { return "http://127.0.0.1:" + strconv.Itoa(p.Port) }

// WriteURL is its remote-write endpoint.
func (p *Prometheus) WriteURL() string { return p.URL() + "/api/v1/write" }

func (p *Prometheus) start() error {
	cfg := filepath.Join(p.Dir, "prometheus.yml")
	yml := "global:\n  scrape_interval: 15s\n"
	if p.scrapes != "" {
		yml += "scrape_configs:\n" + p.scrapes
	}
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		return err
	}
	return p.proc.Start(p.bin, append([]string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(p.Dir, "tsdb"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(p.Port),
		"--web.enable-remote-write-receiver",
		"--storage.tsdb.retention.time=1d",
		"--log.level=warn",
	}, p.flags...), nil, HTTPOK(p.URL()+"/-/ready"))
}

// Series is one series of a query result: an instant vector's Value or a range vector's
// Values, each [unix seconds, "value"].
type Series struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
}

// Float returns an instant vector sample's value.
func (s Series) Float() float64 {
	str, _ := s.Value[1].(string)
	f, _ := strconv.ParseFloat(str, 64)
	return f
}

// Floats returns a range vector's sample values, in time order.
func (s Series) Floats() ([]float64, error) {
	out := make([]float64, 0, len(s.Values))
	for _, v := range s.Values {
		str, _ := v[1].(string)
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("sample value %v: %w", v[1], err)
		}
		out = append(out, f)
	}
	return out, nil
}

// Query runs an instant PromQL query at the current time.
func (p *Prometheus) Query(ctx context.Context, q string) ([]Series, error) {
	return QueryPrometheus(ctx, p.URL(), q)
}

// QueryPrometheus runs an instant PromQL query against the Prometheus API at baseURL.
func QueryPrometheus(ctx context.Context, baseURL, q string) ([]Series, error) {
	_, body, err := Get(ctx, baseURL+"/api/v1/query?query="+url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []Series `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: decode %.200s: %w", q, body, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, r.Error)
	}
	return r.Data.Result, nil
}
