package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// With a persistent queue, what the cluster did not take before a stop is sent by the next
// component on the same data directory, each request once.
func TestPersistentQueueSurvivesRestart(t *testing.T) {
	kc := cluster(t, 1)
	down := kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	a := DefaultArguments()
	a.Brokers = kc.ListenAddrs()
	a.Timeout = model.Duration(time.Second)
	a.SendingQueue.Persistent = true
	a.SendingQueue.NumConsumers = 2
	a.RetryOnFailure.InitialInterval = model.Duration(20 * time.Millisecond)
	a.RetryOnFailure.MaxInterval = model.Duration(50 * time.Millisecond)
	a.RetryOnFailure.MaxElapsedTime = 0 // never give up

	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(t, "otelcol.exporter.kafka/persist", host)
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	first, err := New(opts, a)
	require.NoError(t, err)
	stop := oteltest.StartExporter(t, first)
	for i := range 5 {
		require.NoError(t, first.Traces().ConsumeTraces(context.Background(), oteltest.Traces(uint64(i+1), 4, nil)))
	}
	require.Eventually(t, func() bool {
		return pipelinetest.MetricSum(t, reg, "sonde_otelcol_exporter_kafka_produce_failures_total") >= 2
	}, 30*time.Second, 10*time.Millisecond, "the cluster is being tried")
	stop()
	require.Zero(t, pipelinetest.MetricSum(t, reg, "sonde_otelcol_exporter_kafka_messages_total"))

	down.Remove() // the cluster is back
	opts2 := pipelinetest.Options(t, "otelcol.exporter.kafka/persist", host)
	opts2.DataPath = opts.DataPath
	second, err := New(opts2, a)
	require.NoError(t, err)
	oteltest.StartExporter(t, second)
	got := consume(t, kc.ListenAddrs(), "otlp_spans", 5)
	require.Len(t, got.records, 5)
	require.Equal(t, 5, got.total(), "each request once")
	traces := map[string]int{}
	for _, r := range got.records {
		td := decodeTraces(t, "otlp_proto", r.Value)
		id := allSpans(td)[0].TraceID()
		traces[string(id[:])] += td.SpanCount()
	}
	require.Len(t, traces, 5)
}
