package otlp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// TestShutdownBudgetBackendsDown: the daemonset preset's OTLP graph (receiver → batch with
// wait_for_result → otlp exporter with a persistent queue, otelcol.exporter.loki →
// loki.write, otelcol.exporter.prometheus → prometheus.remote_write) with Tempo, Loki and
// the remote-write endpoint all down and requests of every signal waiting for their answer:
// the controller's Run returns within the shutdown budget, every component having stopped
// by itself (it took 47–77 s before, most of it the batch waiting for Loki's ack timeout).
func TestShutdownBudgetBackendsDown(t *testing.T) {
	down := "127.0.0.1:" + fmt.Sprint(backendtest.FreePort(t)) // nothing listens there
	grpcAddr := backendtest.FreeAddr(t)
	yml := fmt.Sprintf(`
components:
  otelcol.receiver.otlp/default:
    grpc: {endpoint: %[1]q}
    output:
      traces: [otelcol.processor.batch/default]
      metrics: [otelcol.processor.batch/default]
      logs: [otelcol.processor.batch/default]
  otelcol.processor.batch/default:
    wait_for_result: true
    output:
      traces: [otelcol.exporter.otlp/default]
      metrics: [otelcol.exporter.prometheus/default]
      logs: [otelcol.exporter.loki/default]
  otelcol.exporter.otlp/default:
    client: {endpoint: %[2]q, tls: {insecure: true}}
    sending_queue: {persistent: true, sizer: bytes, queue_size: 268435456}
  otelcol.exporter.prometheus/default:
    forward_to: [prometheus.remote_write/default]
  otelcol.exporter.loki/default:
    forward_to: [loki.write/default]
  prometheus.remote_write/default:
    endpoint: {url: "http://%[2]s/api/v1/write"}
  loki.write/default:
    endpoints:
      - url: "http://%[2]s/loki/api/v1/push"
`, grpcAddr, down)
	const budget = 8 * time.Second
	g := oteltest.StartGraph(t, registry(t), yml, oteltest.GraphOptions{ShutdownTimeout: budget})
	logs := g.Logs
	backendtest.WaitListening(t, grpcAddr)
	conn := oteltest.Dial(t, grpcAddr)

	// Spans go to the queue on disk (answered OK); metrics to the WAL (OK once
	// remote_write is ready); logs wait for Loki, which never answers.
	require.Eventually(t, func() bool {
		_, err := ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(1, 3, nil)))
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		_, err := pmetricotlp.NewGRPCClient(conn).Export(context.Background(), pmetricotlp.NewExportRequestFromMetrics(oteltest.Metrics(nil)))
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)
	logAnswers := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := plogotlp.NewGRPCClient(conn).Export(context.Background(), plogotlp.NewExportRequestFromLogs(oteltest.Logs(2, nil)))
			logAnswers <- err
		}()
	}
	time.Sleep(time.Second) // the log requests wait for Loki

	took := g.Stop()
	t.Logf("shutdown with Tempo, Loki and remote write down: %s (budget %s)", took.Round(10*time.Millisecond), budget)
	if took >= budget {
		t.Log(logs.String())
	}
	require.Less(t, took, budget)
	require.NotContains(t, logs.String(), "did not stop in time")
	for range 3 {
		require.Error(t, <-logAnswers, "log requests are not answered OK: Loki never had them")
	}
}
