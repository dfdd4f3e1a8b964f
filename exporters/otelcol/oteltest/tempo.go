package oteltest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// TempoVersion is the Tempo the tests run against (2.9.0, as a Go pseudo-version), built
// by `make deps` with testdata/backends/tempo.sh.
const TempoVersion = "v1.5.1-0.20251008140505-607c7fb69662"

// TempoBinary returns the path of the Tempo binary: $SONDE_TEMPO_BIN, else
// ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/tempo-<TempoVersion>. A missing binary fails the
// test: the real backend is part of the test suite, not optional.
func TempoBinary(t testing.TB) string {
	t.Helper()
	return backendtest.Binary(t, "Tempo", "SONDE_TEMPO_BIN", "tempo", TempoVersion, "make deps")
}

// Tempo is a Tempo process started for a test, listening on 127.0.0.1 only, with its data
// in a temporary directory that survives Restart.
type Tempo struct {
	t      testing.TB
	bin    string
	config string
	Dir    string
	// Ports: the query API (HTTP), Tempo's own gRPC, OTLP/gRPC and OTLP/HTTP ingestion,
	// and memberlist.
	HTTPPort, GRPCPort, OTLPGRPCPort, OTLPHTTPPort, MemberlistPort int

	proc backendtest.Process
}

// StartTempo starts Tempo and waits until it is ready; it is stopped when the test ends.
func StartTempo(t testing.TB) *Tempo {
	t.Helper()
	backendtest.SkipShort(t, "Tempo")
	tp := &Tempo{
		t: t, bin: TempoBinary(t), config: backendtest.RepoFile(t, "testdata/backends/tempo.yaml"), Dir: t.TempDir(),
		proc: backendtest.Process{Name: "Tempo"},
	}
	backendtest.StartOnFreePorts(t, &tp.proc, func() {
		tp.HTTPPort, tp.GRPCPort, tp.OTLPGRPCPort = backendtest.FreePort(t), backendtest.FreePort(t), backendtest.FreePort(t)
		tp.OTLPHTTPPort, tp.MemberlistPort = backendtest.FreePort(t), backendtest.FreePort(t)
	}, tp.start)
	tp.proc.StopAtEnd(t, tp.Stop)
	return tp
}

// URL is the query API's base URL.
func (tp *Tempo) URL() string { return "http://127.0.0.1:" + strconv.Itoa(tp.HTTPPort) }

// OTLPGRPCEndpoint is host:port of Tempo's OTLP/gRPC receiver.
func (tp *Tempo) OTLPGRPCEndpoint() string { return "127.0.0.1:" + strconv.Itoa(tp.OTLPGRPCPort) }

// OTLPHTTPEndpoint is the base URL of Tempo's OTLP/HTTP receiver.
func (tp *Tempo) OTLPHTTPEndpoint() string {
	return "http://127.0.0.1:" + strconv.Itoa(tp.OTLPHTTPPort)
}

// Output returns what Tempo printed.
func (tp *Tempo) Output() string { return tp.proc.Output() }

func (tp *Tempo) start() error {
	return tp.proc.Start(tp.bin, []string{"-config.file=" + tp.config, "-config.expand-env=true"}, []string{
		"TEMPO_DATA_DIR=" + tp.Dir,
		"TEMPO_HTTP_PORT=" + strconv.Itoa(tp.HTTPPort),
		"TEMPO_GRPC_PORT=" + strconv.Itoa(tp.GRPCPort),
		"TEMPO_OTLP_GRPC_PORT=" + strconv.Itoa(tp.OTLPGRPCPort),
		"TEMPO_OTLP_HTTP_PORT=" + strconv.Itoa(tp.OTLPHTTPPort),
		"TEMPO_MEMBERLIST_PORT=" + strconv.Itoa(tp.MemberlistPort),
	}, backendtest.HTTPOK(tp.URL()+"/ready"))
}

// Stop stops Tempo: SIGTERM, which writes what the ingester holds to its WAL within
// milliseconds, then SIGKILL after 10 s, because Tempo 2.9's query frontend never finishes
// stopping once it has served a query (its request queue waits for a cleanup that has
// already stopped). Stopping twice is fine.
func (tp *Tempo) Stop() { tp.proc.Stop(10 * time.Second) }

// Restart starts Tempo again on the same ports and data directory, after Stop.
func (tp *Tempo) Restart() {
	tp.t.Helper()
	tp.Stop()
	if err := tp.start(); err != nil {
		tp.t.Fatalf("%v:\n%s", err, tp.Output())
	}
}

// Start starts Tempo again after Stop (to keep it down for a while first).
func (tp *Tempo) Start() {
	tp.t.Helper()
	if err := tp.start(); err != nil {
		tp.t.Fatalf("%v:\n%s", err, tp.Output())
	}
}

// Trace reads one trace back through Tempo's query API (/api/traces/<id>). found is false
// while Tempo does not know the trace (yet).
func (tp *Tempo) Trace(ctx context.Context, id pcommon.TraceID) (td ptrace.Traces, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tp.URL()+"/api/traces/"+id.String(), nil)
	if err != nil {
		return td, false, err
	}
	req.Header.Set("Accept", "application/protobuf")
	status, body, err := backendtest.Do(req)
	if err != nil {
		return td, false, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return td, false, nil
	default:
		return td, false, fmt.Errorf("GET /api/traces/%s: HTTP %d: %s", id, status, body)
	}
	// Tempo answers a tempopb.Trace, whose only field (1: repeated ResourceSpans) is
	// OTLP's TracesData on the wire.
	td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
	if err != nil {
		return td, false, fmt.Errorf("decode trace: %w", err)
	}
	return td, td.SpanCount() > 0, nil
}
