package kafka

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sondehq/sonde/components/otelcol/processor/batch"
	otlpreceiver "github.com/sondehq/sonde/components/otelcol/receiver/otlp"
	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	otlpexporter "github.com/sondehq/sonde/exporters/otelcol/otlp"
	"github.com/sondehq/sonde/pipeline"
)

// forwarder is otelcol.receiver.otlp → otelcol.exporter.kafka under a real controller,
// configured from YAML as a user writes it.
func forwarder(t *testing.T, brokers []string, exporterYAML string, budget time.Duration) (*oteltest.Graph, string) {
	t.Helper()
	reg, err := pipeline.NewRegistry(otlpreceiver.Registration, Registration)
	require.NoError(t, err)
	addr := backendtest.FreeAddr(t)
	g := oteltest.StartGraph(t, reg, fmt.Sprintf(`
components:
  otelcol.receiver.otlp/in:
    grpc: {endpoint: %q}
    output: {traces: [otelcol.exporter.kafka/out], logs: [otelcol.exporter.kafka/out]}
  otelcol.exporter.kafka/out:
    brokers: [%s]
%s
`, addr, strings.Join(brokers, ", "), exporterYAML), oteltest.GraphOptions{ShutdownTimeout: budget})
	backendtest.WaitListening(t, addr)
	return g, addr
}

// OTLP sent to the receiver reaches Kafka through the exporter, as configured in YAML.
func TestOTLPReceiverToKafka(t *testing.T) {
	kc := cluster(t, 2)
	_, addr := forwarder(t, kc.ListenAddrs(), `
    partition_traces_by_id: true
    logs: {topic: otlp_logs, encoding: otlp_json}
    producer: {compression: lz4, linger: 5ms}`, 0)
	conn := oteltest.Dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	td := oteltest.Traces(9, 6, map[string]string{"k8s.pod.name": "api-0"})
	// The receiver may take the first request before the exporter runs; it answers
	// UNAVAILABLE then, and the sender retries, as OTLP senders do.
	require.Eventually(t, func() bool {
		_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		return err == nil
	}, 30*time.Second, 10*time.Millisecond)
	ld := oteltest.Logs(5, map[string]string{"k8s.pod.name": "api-0"})
	_, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	require.NoError(t, err)

	spans := consume(t, kc.ListenAddrs(), "otlp_spans", 1)
	require.Len(t, spans.records, 1)
	id := oteltest.TraceID(9)
	require.Equal(t, fmt.Sprintf("%x", id[:]), string(spans.records[0].Key))
	requireSameTraces(t, td, decodeTraces(t, "otlp_proto", spans.records[0].Value))
	logs := consume(t, kc.ListenAddrs(), "otlp_logs", 1)
	requireSameLogs(t, ld, decodeLogs(t, "otlp_json", logs.records[0].Value))
}

// With a cluster that takes no data, the exporter stops by the shutdown budget's deadline:
// what it was producing is given up (the client is closed at the deadline) and what was
// still queued is dropped and logged.
func TestStopWithinBudget(t *testing.T) {
	kc := cluster(t, 1)
	kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	g, addr := forwarder(t, kc.ListenAddrs(), `
    timeout: 30s
    sending_queue: {num_consumers: 2}
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0s}`, 3*time.Second)
	client := ptraceotlp.NewGRPCClient(oteltest.Dial(t, addr))
	require.Eventually(t, func() bool { // until the exporter runs
		_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(0, 2, nil)))
		return err == nil
	}, 30*time.Second, 10*time.Millisecond)
	for i := range 4 {
		_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(uint64(i+1), 2, nil)))
		require.NoError(t, err, "queued")
	}
	took := g.Stop()
	require.Less(t, took, 3500*time.Millisecond)
	require.NotContains(t, g.Logs.String(), "did not stop in time", "the exporter stopped by itself")
	require.Contains(t, g.Logs.String(), "flush deadline passed with data still queued; it is dropped")
}

// The example in docs/kafka.md is a valid configuration.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/kafka.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	require.True(t, ok)
	example, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	reg, err := pipeline.NewRegistry(otlpreceiver.Registration, batch.Registration, otlpexporter.Registration, Registration)
	require.NoError(t, err)
	env := map[string]string{"NODE_NAME": "node-1", "KAFKA_PASSWORD": "s3cret"}
	f, err := config.Parse("kafka.md", []byte(example), reg, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.Len(t, f.Specs, 4)
}
