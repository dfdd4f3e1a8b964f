package kafka

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestMain(m *testing.M) {
	// A refused produce waits for the next metadata refresh: 5s in production, less here.
	metadataMinAge = 200 * time.Millisecond
	os.Exit(m.Run())
}

// cluster starts an in-process Kafka cluster (franz-go's kfake) with the three default
// topics of partitions partitions each.
func cluster(t testing.TB, partitions int32, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, "otlp_spans", "otlp_metrics", "otlp_logs"),
	}, opts...)
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// run starts the exporter against brokers without a sending queue and with fast retries,
// so that ConsumeTraces… returns once Kafka acknowledged (or the data was given up).
func run(t testing.TB, brokers []string, edit func(*Arguments)) (*base.Component, *prometheus.Registry) {
	t.Helper()
	a := DefaultArguments()
	a.Brokers = brokers
	a.SendingQueue.Enabled = false
	a.Producer.Linger = 0
	a.RetryOnFailure.InitialInterval = model.Duration(10 * time.Millisecond)
	a.RetryOnFailure.MaxInterval = model.Duration(50 * time.Millisecond)
	a.RetryOnFailure.MaxElapsedTime = model.Duration(time.Minute)
	if edit != nil {
		edit(a)
	}
	require.NoError(t, a.Validate())
	opts := pipelinetest.Options(t, "otelcol.exporter.kafka/test", pipelinetest.NewHost())
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	c, err := New(opts, a)
	require.NoError(t, err)
	oteltest.StartExporter(t, c)
	return c, reg
}

// consumed is what a real consumer read from a topic.
type consumed struct {
	records []*kgo.Record
	// end is the high watermark of every partition that returned records: with offsets
	// starting at 0, the number of records the partition holds.
	end map[int32]int64
}

// consume reads topic from its start with a kgo consumer until it has want records.
func consume(t testing.TB, brokers []string, topic string, want int, opts ...kgo.Opt) consumed {
	t.Helper()
	return consumeUntil(t, brokers, topic, func(rs []*kgo.Record) bool { return len(rs) >= want }, opts...)
}

// consumeUntil reads topic from its start with a kgo consumer until done says it has all.
func consumeUntil(t testing.TB, brokers []string, topic string, done func([]*kgo.Record) bool, opts ...kgo.Opt) consumed {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := consumed{end: map[int32]int64{}}
	for !done(out.records) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read only %d records from %s before the deadline", len(out.records), topic)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				out.end[p.Partition] = p.HighWatermark
			}
			out.records = append(out.records, p.Records...)
		})
	}
	return out
}

// total is the number of records the partitions that returned records hold.
func (c consumed) total() int {
	var n int64
	for _, e := range c.end {
		n += e
	}
	return int(n)
}
