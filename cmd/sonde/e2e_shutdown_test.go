package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// shutdownBudget is the --shutdown.timeout of TestE2EShutdownEveryBackendDown.
const shutdownBudget = 10 * time.Second

// TestE2EShutdownEveryBackendDown: Loki, Tempo and Prometheus all go down while sonde keeps
// taking data — container log lines tailed, spans answered OK over OTLP/gRPC, a counter
// scraped every second. SIGTERM: sonde exits 0 within its shutdown budget although nothing
// can be delivered. Started again with the backends back, everything it had accepted
// arrives: every log line exactly once, every trace answered OK, every scraped value.
func TestE2EShutdownEveryBackendDown(t *testing.T) {
	prom := backendtest.StartPrometheus(t)
	loki := lokitest.Start(t)
	tempo := oteltest.StartTempo(t)
	target := newCounterTarget(t)
	pods := t.TempDir()
	log := newCRILog(t, filepath.Join(pods, "shop_web-1_0d8f3c2a-1111-2222-3333-444455556666", "nginx"))
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", backendtest.FreePort(t))
	s := newSonde(t, "--shutdown.timeout="+shutdownBudget.String(), "--config="+writeConfig(t,
		logsConfig(pods, loki.PushURL())+fmt.Sprintf(`
  otelcol.receiver.otlp/in:
    grpc: {endpoint: %q}
    output: {traces: [otelcol.processor.batch/in]}
  otelcol.processor.batch/in:
    wait_for_result: true
    timeout: 100ms
    output: {traces: [otelcol.exporter.otlp/tempo]}
  otelcol.exporter.otlp/tempo:
    client: {endpoint: "http://%s"}
    sending_queue: {persistent: true}
%s`, grpcAddr, tempo.OTLPGRPCEndpoint(), strings.TrimPrefix(outageConfig(target.addr, prom.URL()), "\ncomponents:\n"))))

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	traces := ptraceotlp.NewGRPCClient(conn)
	var accepted []pcommon.TraceID
	send := func(n int) {
		for range n {
			id := uint64(len(accepted) + 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := traces.Export(ctx, ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(id, 2, map[string]string{"service.name": "shop"})))
			cancel()
			if err == nil {
				accepted = append(accepted, oteltest.TraceID(id))
			} else {
				t.Logf("trace %d refused: %v", id, err)
			}
		}
	}
	start := time.Now().Add(-2 * time.Minute)
	log.write(500)
	send(20)
	require.Eventually(t, func() bool { return len(rawValues(t, prom, `e2e_scrapes_total`, "10m")) >= 2 },
		60*time.Second, 500*time.Millisecond, "samples never reached Prometheus")

	prom.Stop()
	loki.Stop()
	tempo.Stop()
	log.write(500)
	send(20)
	time.Sleep(5 * time.Second) // scrapes and retries pile up behind the dead backends
	require.GreaterOrEqual(t, len(accepted), 30, "sonde answers OK while Tempo is down: the queue is on disk")

	stopped := time.Now()
	s.proc.Stop(shutdownBudget + 5*time.Second) // SIGTERM, SIGKILL past the grace
	took := time.Since(stopped)
	require.NoError(t, s.proc.ExitErr(), "sonde exits 0 on SIGTERM with every backend down")
	require.Less(t, took, shutdownBudget+2*time.Second, "shutdown took %s with a budget of %s", took, shutdownBudget)
	t.Logf("SIGTERM with Loki, Tempo and Prometheus down: exit 0 after %s (budget %s)", took.Round(10*time.Millisecond), shutdownBudget)
	lastScrape := target.count()

	prom.Restart()
	loki.Restart()
	tempo.Restart()
	s.start()

	streams := loki.WaitEntries(t, `{namespace="shop", pod="web-1", container="nginx"}`, start, time.Now().Add(time.Minute), 1000, 3*time.Minute)
	lines := map[string]int{}
	for _, st := range streams {
		for _, e := range st.Entries {
			lines[e.Line]++
		}
	}
	for line := range log.want {
		require.Equal(t, 1, lines[line], "log line %q", line)
	}
	for _, id := range accepted {
		oteltest.WaitTrace(t, tempo, id, 2)
	}
	require.Eventually(t, func() bool {
		v := rawValues(t, prom, `e2e_scrapes_total`, "10m")
		return len(v) > 0 && int(v[len(v)-1]) > lastScrape
	}, 2*time.Minute, time.Second, "scrapes after the restart never arrived")
	requireConsecutive(t, rawValues(t, prom, `e2e_scrapes_total`, "10m"), 1, lastScrape)
	t.Logf("after the restart: %d log lines, %d traces, scrapes 1..%d all delivered", len(log.want), len(accepted), lastScrape)
}
