package kafka

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// Broker faults the idempotent producer retries by itself leave each message in the topic
// exactly once: here the broker appends the batch but the acknowledgement is lost
// (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND after the append), so a producer that
// is not idempotent would write it twice.
func TestBrokerFaultsRetriedExactlyOnce(t *testing.T) {
	kc := cluster(t, 1)
	c, reg := run(t, kc.ListenAddrs(), nil)
	ctx := context.Background()
	var produces atomic.Int32
	kc.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		produces.Add(1)
		return nil, nil, false // observe only
	})

	var sent []ptrace.Traces
	for i, fault := range []*kerr.Error{kerr.RequestTimedOut, kerr.NotEnoughReplicasAfterAppend} {
		lost := kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: fault, Count: 3})
		td := oteltest.Traces(uint64(i), 4, nil)
		before := produces.Load()
		require.NoError(t, c.Traces().ConsumeTraces(ctx, td))
		require.Equal(t, 3, lost.Hits(), "%s three times after the append", fault.Message)
		require.Equal(t, int32(4), produces.Load()-before, "three failed produce requests and the one that succeeded")
		sent = append(sent, td)
	}

	got := consume(t, kc.ListenAddrs(), "otlp_spans", 2)
	require.Len(t, got.records, 2)
	require.Equal(t, 2, got.total(), "the partition holds each message once")
	for i, want := range sent {
		requireSameTraces(t, want, decodeTraces(t, "otlp_proto", got.records[i].Value))
	}
	require.Equal(t, 8.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_sent_total", "signal", "traces"))
	require.Equal(t, 2.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_kafka_messages_total", "topic", "otlp_spans"))
	require.Zero(t, pipelinetest.MetricSum(t, reg, "sonde_otelcol_exporter_kafka_produce_failures_total"), "the producer's own retries are not export failures")
}

// A fault that outlasts an export attempt fails it; the exporter retries it with backoff
// and the message is written once when the broker recovers. (After a refusal such as
// NOT_LEADER_FOR_PARTITION with unchanged metadata, franz-go's idempotent producer waits for
// its next metadata refresh (at most every 5s; 200ms in these tests) before it fails or
// resends the batch.)
func TestFaultOutlastingProducerRetriedByExporter(t *testing.T) {
	kc := cluster(t, 1)
	c, reg := run(t, kc.ListenAddrs(), func(a *Arguments) { a.Timeout = model.Duration(time.Second) })
	down := kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: -1})

	td := oteltest.Traces(7, 5, nil)
	require.NoError(t, sendThroughFault(t, c, reg, td, down))

	got := consume(t, kc.ListenAddrs(), "otlp_spans", 1)
	require.Len(t, got.records, 1)
	require.Equal(t, 1, got.total())
	requireSameTraces(t, td, decodeTraces(t, "otlp_proto", got.records[0].Value))
	require.Equal(t, 5.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_sent_total", "signal", "traces"))
}

// Kafka refusing a message for good (not authorised) drops the request, counted, without
// retries; the next request goes through.
func TestPermanentErrorDropped(t *testing.T) {
	kc := cluster(t, 1)
	c, reg := run(t, kc.ListenAddrs(), nil)
	denied := kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: 1})
	err := c.Traces().ConsumeTraces(context.Background(), oteltest.Traces(1, 3, nil))
	require.Error(t, err)
	require.Equal(t, 1, denied.Hits(), "not retried")
	require.Equal(t, 3.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_dropped_total", "signal", "traces", "reason", "rejected"))
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_kafka_produce_failures_total", "topic", "otlp_spans", "error", "topic_authorization_failed"))

	td := oteltest.Traces(2, 2, nil)
	require.NoError(t, c.Traces().ConsumeTraces(context.Background(), td))
	got := consume(t, kc.ListenAddrs(), "otlp_spans", 1)
	require.Equal(t, 1, got.total(), "the refused message was not written")
	requireSameTraces(t, td, decodeTraces(t, "otlp_proto", got.records[0].Value))
}

// When some messages of a request fail and the others are written, only the failed ones
// are retried: every trace is in the topic once.
func TestOnlyFailedMessagesRetried(t *testing.T) {
	kc := cluster(t, 2)
	c, reg := run(t, kc.ListenAddrs(), func(a *Arguments) {
		a.PartitionTracesByID = true
		a.Timeout = model.Duration(time.Second)
	})
	refused := kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "otlp_spans", Partitions: []int32{0}, Err: kerr.NotLeaderForPartition, Count: -1})
	td := ptrace.NewTraces()
	for tr := range 8 {
		oteltest.Traces(uint64(tr), 3, nil).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	require.NoError(t, sendThroughFault(t, c, reg, td, refused))

	got := consume(t, kc.ListenAddrs(), "otlp_spans", 8)
	require.Len(t, got.records, 8)
	require.Len(t, got.end, 2, "both partitions hold traces")
	require.Equal(t, 8, got.total(), "no message written twice")
	spans := map[string]int{}
	for _, r := range got.records {
		spans[string(r.Key)] += decodeTraces(t, "otlp_proto", r.Value).SpanCount()
	}
	require.Len(t, spans, 8)
	for key, n := range spans {
		require.Equal(t, 3, n, key)
	}
	require.Equal(t, 24.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_sent_total", "signal", "traces"))
}

// sendThroughFault sends td while fault is installed, removes the fault once an export
// attempt failed, and returns the outcome of the send.
func sendThroughFault(t *testing.T, c *base.Component, reg prometheus.Gatherer, td ptrace.Traces, fault *kfake.FaultHandle) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Traces().ConsumeTraces(context.Background(), td) }()
	require.Eventually(t, func() bool {
		return pipelinetest.MetricSum(t, reg, "sonde_otelcol_exporter_kafka_produce_failures_total", "topic", "otlp_spans") >= 1
	}, 30*time.Second, 10*time.Millisecond, "an export attempt failed")
	fault.Remove()
	return <-done
}
