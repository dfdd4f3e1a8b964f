package oteltest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// traceBackend is what the Tempo and Jaeger harnesses share: the backend's binary run for a
// test with its configuration file, listening on 127.0.0.1 only, on ports chosen free when
// it first starts and kept across restarts, with its data in a temporary directory that
// survives Stop, and with OTLP/gRPC and OTLP/HTTP receivers.
type traceBackend struct {
	t testing.TB
	// Dir holds the backend's data.
	Dir string
	// OTLPGRPCPort and OTLPHTTPPort are the ports of the OTLP/gRPC and OTLP/HTTP receivers.
	OTLPGRPCPort, OTLPHTTPPort int

	proc  backendtest.Process
	bin   string
	args  []string
	grace time.Duration   // how long Stop waits after SIGTERM before SIGKILL
	env   func() []string // Dir and the ports, as the configuration file reads them
	ready func() bool
}

// launch starts the backend the first time, and has it stopped when the test ends: bin with
// args and env (which names Dir and the ports), its ports (the OTLP receivers' and those in
// ports) chosen free until it starts; ready says when it serves, grace is Stop's.
func (b *traceBackend) launch(t testing.TB, name, bin string, args []string, grace time.Duration,
	env func() []string, ready func() bool, ports ...*int) {
	t.Helper()
	b.t, b.Dir, b.bin, b.args, b.grace, b.env, b.ready = t, t.TempDir(), bin, args, grace, env, ready
	b.proc.Name = name
	ports = append(ports, &b.OTLPGRPCPort, &b.OTLPHTTPPort)
	backendtest.StartOnFreePorts(t, &b.proc, func() {
		for _, p := range ports {
			*p = backendtest.FreePort(t)
		}
	}, b.run)
	b.proc.StopAtEnd(t, b.Stop)
}

func (b *traceBackend) run() error { return b.proc.Start(b.bin, b.args, b.env(), b.ready) }

// OTLPGRPCEndpoint is host:port of the OTLP/gRPC receiver.
func (b *traceBackend) OTLPGRPCEndpoint() string { return "127.0.0.1:" + strconv.Itoa(b.OTLPGRPCPort) }

// OTLPHTTPEndpoint is the base URL of the OTLP/HTTP receiver.
func (b *traceBackend) OTLPHTTPEndpoint() string {
	return "http://127.0.0.1:" + strconv.Itoa(b.OTLPHTTPPort)
}

// Output returns what the backend printed.
func (b *traceBackend) Output() string { return b.proc.Output() }

// Stop stops the backend: SIGTERM, then SIGKILL after its grace. Stopping twice is fine.
func (b *traceBackend) Stop() { b.proc.Stop(b.grace) }

// Restart starts the backend again on the same ports and data directory, after Stop.
func (b *traceBackend) Restart() {
	b.t.Helper()
	b.Stop()
	b.Start()
}

// Start starts the backend again after Stop (to keep it down for a while first).
func (b *traceBackend) Start() {
	b.t.Helper()
	if err := b.run(); err != nil {
		b.t.Fatalf("%v:\n%s", err, b.Output())
	}
}

// getTrace reads one trace back through a query API: a GET of baseURL+path (with an Accept
// header when accept is not empty), whose 200 answer decode turns into the trace. found is
// false while the backend does not know the trace (a 404, or no spans yet).
func getTrace(ctx context.Context, baseURL, path, accept string, decode func([]byte) (ptrace.Traces, error)) (td ptrace.Traces, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+path, nil)
	if err != nil {
		return td, false, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	status, body, err := backendtest.Do(req)
	if err != nil {
		return td, false, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return td, false, nil
	default:
		return td, false, fmt.Errorf("GET %s: HTTP %d: %s", path, status, body)
	}
	td, err = decode(body)
	if err != nil {
		return td, false, err
	}
	return td, td.SpanCount() > 0, nil
}
