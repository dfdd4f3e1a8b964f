package oteltest

import (
	"context"
	"encoding/json"
	"fmt"
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
// Restart. Stop sends SIGTERM, on which the collector stops its receivers, then its
// exporters, then closes Badger; SIGKILL after 20 s.
type Jaeger struct {
	traceBackend
	// Ports (besides the OTLP receivers'): the query service's HTTP API (and UI) and gRPC
	// API, the health check, and Jaeger's own Prometheus metrics.
	QueryHTTPPort, QueryGRPCPort, HealthPort, MetricsPort int
}

// StartJaeger starts Jaeger and waits until it is healthy; it is stopped when the test ends.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	backendtest.SkipShort(t, "Jaeger")
	j := &Jaeger{}
	args := []string{"--config=" + backendtest.RepoFile(t, "testdata/backends/jaeger.yaml")}
	j.launch(t, "Jaeger", JaegerBinary(t), args, 20*time.Second, func() []string {
		return []string{
			"JAEGER_DATA_DIR=" + filepath.Join(j.Dir, "badger"),
			"JAEGER_OTLP_GRPC_PORT=" + strconv.Itoa(j.OTLPGRPCPort),
			"JAEGER_OTLP_HTTP_PORT=" + strconv.Itoa(j.OTLPHTTPPort),
			"JAEGER_QUERY_HTTP_PORT=" + strconv.Itoa(j.QueryHTTPPort),
			"JAEGER_QUERY_GRPC_PORT=" + strconv.Itoa(j.QueryGRPCPort),
			"JAEGER_HEALTH_PORT=" + strconv.Itoa(j.HealthPort),
			"JAEGER_METRICS_PORT=" + strconv.Itoa(j.MetricsPort),
		}
	}, j.ready, &j.QueryHTTPPort, &j.QueryGRPCPort, &j.HealthPort, &j.MetricsPort)
	return j
}

// URL is the query service's base URL (HTTP API and UI).
func (j *Jaeger) URL() string { return "http://127.0.0.1:" + strconv.Itoa(j.QueryHTTPPort) }

// ready is true once the health check reports every component up (it answers 503 while the
// collector starts) and the query API answers.
func (j *Jaeger) ready() bool {
	return backendtest.HTTPOK("http://127.0.0.1:"+strconv.Itoa(j.HealthPort)+"/status")() &&
		backendtest.HTTPOK(j.URL()+"/api/v3/services")()
}

// Trace reads one trace back through Jaeger's API v3 (GET /api/v3/traces/<hex id>, OTLP
// JSON in {"result": ...}): its spans under the resources (Jaeger's process tags) they were
// stored with. found is false while Jaeger does not know the trace (yet).
func (j *Jaeger) Trace(ctx context.Context, id pcommon.TraceID) (td ptrace.Traces, found bool, err error) {
	return getTrace(ctx, j.URL(), "/api/v3/traces/"+id.String(), "", func(body []byte) (td ptrace.Traces, err error) {
		var wrapper struct {
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(body, &wrapper); err != nil {
			return td, fmt.Errorf("decode the answer to GET /api/v3/traces/%s: %w", id, err)
		}
		if len(wrapper.Result) == 0 {
			return td, fmt.Errorf("GET /api/v3/traces/%s: no result in %s", id, body)
		}
		td, err = (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(wrapper.Result)
		if err != nil {
			return td, fmt.Errorf("decode trace: %w", err)
		}
		return td, nil
	})
}
