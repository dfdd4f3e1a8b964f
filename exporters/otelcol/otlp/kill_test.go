package otlp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// The environment of the child process of TestSpansSurviveSIGKILL.
const (
	killChildData    = "SONDE_KILL_TEST_DATA"
	killChildBackend = "SONDE_KILL_TEST_BACKEND"
	killChildListen  = "SONDE_KILL_TEST_LISTEN"
)

// runKillChild is the child: the presets' trace path (receiver → batch with wait_for_result
// → otlp exporter with a persistent queue) under a controller, until SIGTERM or SIGKILL.
func runKillChild(t *testing.T) {
	yml := fmt.Sprintf(`
components:
  otelcol.receiver.otlp/default:
    grpc: {endpoint: %q}
    output: {traces: [otelcol.processor.batch/default]}
  otelcol.processor.batch/default:
    wait_for_result: true
    output: {traces: [otelcol.exporter.otlp/default]}
  otelcol.exporter.otlp/default:
    client: {endpoint: %q, tls: {insecure: true}}
    sending_queue: {persistent: true, sizer: bytes, queue_size: 268435456}
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0s}
`, os.Getenv(killChildListen), os.Getenv(killChildBackend))
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	g := oteltest.StartGraph(t, registry(t), yml, oteltest.GraphOptions{DataPath: os.Getenv(killChildData)})
	<-ctx.Done()
	g.Stop()
}

// TestSpansSurviveSIGKILL: spans answered OK while Tempo is down are on disk: sonde (a child
// process running the presets' trace path) is killed with SIGKILL, Tempo comes back, a new
// sonde on the same storage directory sends them, and every one is found in Tempo.
func TestSpansSurviveSIGKILL(t *testing.T) {
	if os.Getenv(killChildData) != "" {
		runKillChild(t)
		return
	}
	tempo := oteltest.StartTempo(t)
	tempo.Stop() // down from the start
	data := t.TempDir()
	listen := backendtest.FreeAddr(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSpansSurviveSIGKILL$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildData+"="+data, killChildBackend+"="+tempo.OTLPGRPCEndpoint(), killChildListen+"="+listen)
		out, err := os.Create(fmt.Sprintf("%s/child-%d.log", t.TempDir(), time.Now().UnixNano()))
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); out.Close() })
		backendtest.WaitListening(t, listen)
		return cmd
	}
	child := start()

	client := ptraceotlp.NewGRPCClient(oteltest.Dial(t, listen))
	const requests, spans = 40, 5
	var accepted []uint64
	for id := uint64(1); id <= requests; id++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(id, spans, nil)))
		cancel()
		if err == nil {
			accepted = append(accepted, id)
		}
	}
	require.NotEmpty(t, accepted)

	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_ = child.Wait()
	tempo.Start()
	start()

	// Read every accepted trace back, for two minutes at most in all.
	found := map[uint64]int{} // spans read back, by trace
	deadline := time.Now().Add(2 * time.Minute)
	for len(found) < len(accepted) && time.Now().Before(deadline) {
		for _, id := range accepted {
			if found[id] >= spans {
				continue
			}
			if td, ok, err := tempo.Trace(context.Background(), oteltest.TraceID(id)); err == nil && ok && td.SpanCount() >= spans {
				found[id] = td.SpanCount()
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	delivered, doubled := len(found), 0
	for _, n := range found {
		if n > spans {
			doubled++
		}
	}
	lost := len(accepted) - delivered
	t.Logf("Tempo down, SIGKILL, restart: %d of %d requests answered OK (%d spans), %d delivered, %d lost, %d with spans twice",
		len(accepted), requests, len(accepted)*spans, delivered, lost, doubled)
	require.Zero(t, lost)
}
