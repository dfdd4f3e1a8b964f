package oteltest

import (
	"context"
	"fmt"
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
// in a temporary directory that survives Restart. Stop sends SIGTERM, which writes what the
// ingester holds to its WAL within milliseconds, then SIGKILL after 10 s, because Tempo
// 2.9's query frontend never finishes stopping once it has served a query (its request
// queue waits for a cleanup that has already stopped).
type Tempo struct {
	traceBackend
	// Ports (besides the OTLP receivers'): the query API (HTTP), Tempo's own gRPC, and
	// memberlist.
	HTTPPort, GRPCPort, MemberlistPort int
}

// StartTempo starts Tempo and waits until it is ready; it is stopped when the test ends.
func StartTempo(t testing.TB) *Tempo {
	t.Helper()
	backendtest.SkipShort(t, "Tempo")
	tp := &Tempo{}
	args := []string{"-config.file=" + backendtest.RepoFile(t, "testdata/backends/tempo.yaml"), "-config.expand-env=true"}
	tp.launch(t, "Tempo", TempoBinary(t), args, 10*time.Second, func() []string {
		return []string{
			"TEMPO_DATA_DIR=" + tp.Dir,
			"TEMPO_HTTP_PORT=" + strconv.Itoa(tp.HTTPPort),
			"TEMPO_GRPC_PORT=" + strconv.Itoa(tp.GRPCPort),
			"TEMPO_OTLP_GRPC_PORT=" + strconv.Itoa(tp.OTLPGRPCPort),
			"TEMPO_OTLP_HTTP_PORT=" + strconv.Itoa(tp.OTLPHTTPPort),
			"TEMPO_MEMBERLIST_PORT=" + strconv.Itoa(tp.MemberlistPort),
		}
	}, func() bool { return backendtest.HTTPOK(tp.URL() + "/ready")() }, &tp.HTTPPort, &tp.GRPCPort, &tp.MemberlistPort)
	return tp
}

// URL is the query API's base URL.
func (tp *Tempo) URL() string { return "http://127.0.0.1:" + strconv.Itoa(tp.HTTPPort) }

// Trace reads one trace back through Tempo's query API (/api/traces/<id>). found is false
// while Tempo does not know the trace (yet).
func (tp *Tempo) Trace(ctx context.Context, id pcommon.TraceID) (td ptrace.Traces, found bool, err error) {
	return getTrace(ctx, tp.URL(), "/api/traces/"+id.String(), "application/protobuf", func(body []byte) (ptrace.Traces, error) {
		// Tempo answers a tempopb.Trace, whose only field (1: repeated ResourceSpans) is
		// OTLP's TracesData on the wire.
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
		if err != nil {
			return td, fmt.Errorf("decode trace: %w", err)
		}
		return td, nil
	})
}
