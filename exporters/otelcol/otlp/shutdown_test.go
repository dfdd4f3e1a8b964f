package otlp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// forwarder is a receiver → otelcol.exporter.otlp graph under a real controller with the
// given shutdown budget.
type forwarder struct {
	*oteltest.Graph
	logs   *pipelinetest.LogBuffer
	client ptraceotlp.GRPCClient
}

func startForwarder(t *testing.T, backend, exporterYAML string, budget time.Duration) *forwarder {
	t.Helper()
	grpcAddr := backendtest.FreeAddr(t)
	g := oteltest.StartGraph(t, registry(t), fmt.Sprintf(`
components:
  otelcol.receiver.otlp/in:
    grpc: {endpoint: %q}
    output: {traces: [otelcol.exporter.otlp/out]}
  otelcol.exporter.otlp/out:
    client: {endpoint: %q, tls: {insecure: true}}
%s
`, grpcAddr, backend, exporterYAML), oteltest.GraphOptions{ShutdownTimeout: budget})
	backendtest.WaitListening(t, grpcAddr)
	return &forwarder{Graph: g, logs: g.Logs, client: ptraceotlp.NewGRPCClient(oteltest.Dial(t, grpcAddr))}
}

// send sends a request of n spans; it reports whether it was accepted (200 / OK).
func (fw *forwarder) send(t *testing.T, id uint64, n int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := fw.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(id, n, nil)))
	return err == nil
}

// TestStopKeepsRetrying: spans in the memory queue are not dropped at the stop: the exporter
// keeps retrying, waiting the delay the backend asked for, while the shutdown budget lasts
// (they were dropped 0.9 s after SIGTERM although the backend had asked for a retry later).
func TestStopKeepsRetrying(t *testing.T) {
	backend := oteltest.NewGRPCServer(t)
	backend.Script(oteltest.Fault{Code: codes.Unavailable, RetryDelay: 3 * time.Second})
	fw := startForwarder(t, backend.Endpoint(), `
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s}`, 10*time.Second)
	require.True(t, fw.send(t, 1, 4))
	require.Eventually(t, func() bool { return len(backend.Requests()) == 1 }, 10*time.Second, 5*time.Millisecond)
	took := fw.Stop()
	require.Equal(t, 4, backend.Spans(), "sent at the retry the backend asked for, during the shutdown")
	require.Less(t, took, 10*time.Second, "within the budget")
	require.GreaterOrEqual(t, took, 2*time.Second, "the retry came after the backend's delay")
	require.NotContains(t, fw.logs.String(), "dropped")
	require.NotContains(t, fw.logs.String(), "did not stop in time")
}

// TestStopWithinBudget: with a backend that accepts connections and never answers (the
// export timeout is 30 s), the exporter stops at the budget's deadline on its own — the
// attempts under way are cancelled there — and counts what it dropped; it is not abandoned
// by the controller (it waited up to 30 s per attempt before).
func TestStopWithinBudget(t *testing.T) {
	backend := oteltest.NewGRPCServer(t)
	backend.Script(oteltest.Repeat(oteltest.Fault{Hang: true}, 1000)...)
	fw := startForwarder(t, backend.Endpoint(), `
    timeout: 30s
    sending_queue: {num_consumers: 2}
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0s}`, 3*time.Second)
	for i := range 5 {
		require.True(t, fw.send(t, uint64(i+1), 2))
	}
	require.Eventually(t, func() bool { return len(backend.Requests()) >= 2 }, 10*time.Second, 5*time.Millisecond)
	took := fw.Stop()
	require.Less(t, took, 3500*time.Millisecond)
	require.NotContains(t, fw.logs.String(), "did not stop in time", "the exporter stopped by itself")
	require.Contains(t, fw.logs.String(), `msg="flush deadline passed with data still queued; it is dropped" component=otelcol.exporter.otlp/out queued=5`)
	require.Zero(t, backend.Spans())
}
