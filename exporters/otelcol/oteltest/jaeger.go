package oteltest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// JaegerVersion is the Jaeger (v2, the OpenTelemetry Collector based binary) the full tests
// run against, built by `make deps-jaeger` with testdata/backends/gobuild.sh.
const JaegerVersion = "v1.76.0"

// JaegerBinary returns the path of the Jaeger binary: $SONDE_JAEGER_BIN, else
// ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/jaeger-<JaegerVersion>. A missing binary fails the
// test.
func JaegerBinary(t testing.TB) string {
	t.Helper()
	return backendtest.Binary(t, "Jaeger", "SONDE_JAEGER_BIN", "jaeger", JaegerVersion, "make deps-jaeger")
}

// Jaeger is a Jaeger v2 process started for a test with testdata/backends/jaeger.yaml:
// every listener on 127.0.0.1, traces in Badger under a temporary directory that survives
// Restart.
type Jaeger struct {
	t      testing.TB
	bin    string
	config string
	Dir    string
	// Ports: OTLP/gRPC and OTLP/HTTP ingestion, the query service's HTTP API (and UI) and
	// gRPC API, the health check, and Jaeger's own Prometheus metrics.
	OTLPGRPCPort, OTLPHTTPPort, QueryHTTPPort, QueryGRPCPort, HealthPort, MetricsPort int

	proc backendtest.Process
}

// StartJaeger starts Jaeger and waits until it is healthy; it is stopped when the test ends.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	backendtest.SkipShort(t, "Jaeger")
	j := &Jaeger{
		t: t, bin: JaegerBinary(t), config: backendtest.RepoFile(t, "testdata/backends/jaeger.yaml"), Dir: t.TempDir(),
		proc: backendtest.Process{Name: "Jaeger"},
	}
	backendtest.StartOnFreePorts(t, &j.proc, func() {
		j.OTLPGRPCPort, j.OTLPHTTPPort, j.QueryHTTPPort = backendtest.FreePort(t), backendtest.FreePort(t), backendtest.FreePort(t)
		j.QueryGRPCPort, j.HealthPort, j.MetricsPort = backendtest.FreePort(t), backendtest.FreePort(t), backendtest.FreePort(t)
	}, j.start)
	j.proc.StopAtEnd(t, j.Stop)
	return j
}

// URL is the query service's base URL (HTTP API and UI).
func (j *Jaeger) URL() string { return "http://127.0.0.1:" + strconv.Itoa(j.QueryHTTPPort) }

// OTLPGRPCEndpoint is host:port of Jaeger's OTLP/gRPC receiver.
func (j *Jaeger) OTLPGRPCEndpoint() string { return "127.0.0.1:" + strconv.Itoa(j.OTLPGRPCPort) }

// OTLPHTTPEndpoint is the base URL of Jaeger's OTLP/HTTP receiver.
func (j *Jaeger) OTLPHTTPEndpoint() string {
	return "http://127.0.0.1:" + strconv.Itoa(j.OTLPHTTPPort)
}

// Output returns what Jaeger printed.
func (j *Jaeger) Output() string { return j.proc.Output() }

func (j *Jaeger) start() error {
	return j.proc.Start(j.bin, []string{"--config=" + j.config}, []string{
		"JAEGER_DATA_DIR=" + filepath.Join(j.Dir, "badger"),
		"JAEGER_OTLP_GRPC_PORT=" + strconv.Itoa(j.OTLPGRPCPort),
		"JAEGER_OTLP_HTTP_PORT=" + strconv.Itoa(j.OTLPHTTPPort),
		"JAEGER_QUERY_HTTP_PORT=" + strconv.Itoa(j.QueryHTTPPort),
		"JAEGER_QUERY_GRPC_PORT=" + strconv.Itoa(j.QueryGRPCPort),
		"JAEGER_HEALTH_PORT=" + strconv.Itoa(j.HealthPort),
		"JAEGER_METRICS_PORT=" + strconv.Itoa(j.MetricsPort),
	}, j.ready)
}

// ready is true once the health check reports every component up (it answers 503 while the
// collector starts) and the query API answers.
func (j *Jaeger) ready() bool {
	return backendtest.HTTPOK("http://127.0.0.1:"+strconv.Itoa(j.HealthPort)+"/status")() &&
		backendtest.HTTPOK(j.URL()+"/api/v3/services")()
}

// Stop stops Jaeger: SIGTERM, on which the collector stops its receivers, then its
// exporters, then closes Badger; SIGKILL after 20 s. Stopping twice is fine.
func (j *Jaeger) Stop() { j.proc.Stop(20 * time.Second) }

// Restart starts Jaeger again on the same ports and data directory, after Stop.
func (j *Jaeger) Restart() {
	j.t.Helper()
	j.Stop()
	j.Start()
}

// Start starts Jaeger again after Stop (to keep it down for a while first).
func (j *Jaeger) Start() {
	j.t.Helper()
	if err := j.start(); err != nil {
		j.t.Fatalf("%v:\n%s", err, j.Output())
	}
}

// Trace reads one trace back through Jaeger's API v3 (GET /api/v3/traces/<hex id>, OTLP
// JSON in {"result": ...}): its spans under the resources (Jaeger's process tags) they were
// stored with. found is false while Jaeger does not know the trace (yet).
func (j *Jaeger) Trace(ctx context.Context, id pcommon.TraceID) (td ptrace.Traces, found bool, err error) {
	status, body, err := backendtest.Get(ctx, j.URL()+"/api/v3/traces/"+id.String())
	if err != nil {
		return td, false, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return td, false, nil
	default:
		return td, false, fmt.Errorf("GET /api/v3/traces/%s: HTTP %d: %s", id, status, body)
	}
	var wrapper struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &wrapper); err != nil {
		return td, false, fmt.Errorf("decode the answer to GET /api/v3/traces/%s: %w", id, err)
	}
	if len(wrapper.Result) == 0 {
		return td, false, fmt.Errorf("GET /api/v3/traces/%s: no result in %s", id, body)
	}
	td, err = (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(wrapper.Result)
	if err != nil {
		return td, false, fmt.Errorf("decode trace: %w", err)
	}
	return td, td.SpanCount() > 0, nil
}
