package kafka

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// The three signals sent through the component reach their default topics and decode to
// exactly what was sent, in both encodings.
func TestRoundTrip(t *testing.T) {
	for _, enc := range []string{"otlp_proto", "otlp_json"} {
		t.Run(enc, func(t *testing.T) {
			kc := cluster(t, 1)
			c, reg := run(t, kc.ListenAddrs(), func(a *Arguments) {
				a.Traces.Encoding, a.Metrics.Encoding, a.Logs.Encoding = enc, enc, enc
			})
			ctx := context.Background()

			td := oteltest.Traces(1, 5, map[string]string{"k8s.pod.name": "api-0"})
			oteltest.Traces(2, 3, nil).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			md := oteltest.Metrics(map[string]string{"k8s.pod.name": "api-0"})
			ld := oteltest.Logs(4, map[string]string{"k8s.pod.name": "api-0"})
			require.NoError(t, c.Traces().ConsumeTraces(ctx, td))
			require.NoError(t, c.Metrics().ConsumeMetrics(ctx, md))
			require.NoError(t, c.Logs().ConsumeLogs(ctx, ld))

			spans := consume(t, kc.ListenAddrs(), "otlp_spans", 1)
			require.Len(t, spans.records, 1)
			require.Nil(t, spans.records[0].Key, "not partitioned: no key")
			requireSameTraces(t, td, decodeTraces(t, enc, spans.records[0].Value))

			points := consume(t, kc.ListenAddrs(), "otlp_metrics", 1)
			require.Len(t, points.records, 1)
			requireSameMetrics(t, md, decodeMetrics(t, enc, points.records[0].Value))

			records := consume(t, kc.ListenAddrs(), "otlp_logs", 1)
			require.Len(t, records.records, 1)
			requireSameLogs(t, ld, decodeLogs(t, enc, records.records[0].Value))

			require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_kafka_messages_total", "topic", "otlp_spans"))
			require.Equal(t, float64(len(spans.records[0].Value)), pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_kafka_bytes_total", "topic", "otlp_spans"))
			require.Equal(t, 8.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_sent_total", "signal", "traces"))
			require.Equal(t, 2.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_sent_total", "signal", "metrics"))
			require.Equal(t, 4.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_sent_total", "signal", "logs"))
		})
	}
}

// With partition_traces_by_id, every message holds the spans of one trace and is keyed with
// its id; all the spans of a trace sent in several requests share one partition.
func TestPartitionTracesByID(t *testing.T) {
	kc := cluster(t, 4)
	c, _ := run(t, kc.ListenAddrs(), func(a *Arguments) { a.PartitionTracesByID = true })
	ctx := context.Background()
	sent := map[string]int{}
	for req := range 3 {
		// Each request mixes 5 traces over two resources.
		td := ptrace.NewTraces()
		for tr := range 5 {
			part := oteltest.Traces(uint64(tr), 2, map[string]string{"host.name": "node-" + strconv.Itoa(tr%2)})
			part.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			id := oteltest.TraceID(uint64(tr))
			sent[hex.EncodeToString(id[:])] += 2
		}
		require.NoError(t, c.Traces().ConsumeTraces(ctx, td), "request %d", req)
	}
	got := consume(t, kc.ListenAddrs(), "otlp_spans", 15)
	require.Len(t, got.records, 15, "one message per trace per request")
	partitionOf := map[string]int32{}
	spans := map[string]int{}
	for _, r := range got.records {
		key := string(r.Key)
		td := decodeTraces(t, "otlp_proto", r.Value)
		for _, sp := range allSpans(td) {
			id := sp.TraceID()
			require.Equal(t, key, hex.EncodeToString(id[:]), "every span of a message has the message's trace id")
		}
		spans[key] += td.SpanCount()
		if p, ok := partitionOf[key]; ok {
			require.Equal(t, p, r.Partition, "trace %s on two partitions", key)
		}
		partitionOf[key] = r.Partition
		require.Equal(t, "node-"+strconv.Itoa(traceNumber(t, td)%2), hostName(td), "the span keeps its resource")
	}
	require.Equal(t, sent, spans)
}

// With partition_*_by_resource_attributes, each resource is its own message keyed with a
// hash of its attributes that does not depend on their order.
func TestPartitionByResource(t *testing.T) {
	kc := cluster(t, 4)
	c, _ := run(t, kc.ListenAddrs(), func(a *Arguments) {
		a.PartitionMetricsByResourceAttributes = true
		a.PartitionLogsByResourceAttributes = true
	})
	ctx := context.Background()

	md := oteltest.Metrics(map[string]string{"host.name": "a", "k8s.pod.name": "p"})
	oteltest.Metrics(map[string]string{"host.name": "b"}).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	require.NoError(t, c.Metrics().ConsumeMetrics(ctx, md))
	// The same attributes in another order.
	again := pmetric.NewMetrics()
	rm := again.ResourceMetrics().AppendEmpty()
	md.ResourceMetrics().At(0).CopyTo(rm)
	rm.Resource().Attributes().Clear()
	rm.Resource().Attributes().PutStr("k8s.pod.name", "p")
	rm.Resource().Attributes().PutStr("host.name", "a")
	rm.Resource().Attributes().PutStr("service.name", "sonde-test")
	require.NoError(t, c.Metrics().ConsumeMetrics(ctx, again))

	got := consume(t, kc.ListenAddrs(), "otlp_metrics", 3)
	require.Len(t, got.records, 3)
	byHost := map[string][]byte{}
	for _, r := range got.records {
		m := decodeMetrics(t, "otlp_proto", r.Value)
		require.Equal(t, 1, m.ResourceMetrics().Len())
		host, _ := m.ResourceMetrics().At(0).Resource().Attributes().Get("host.name")
		require.Len(t, r.Key, 16)
		if k, ok := byHost[host.Str()]; ok {
			require.Equal(t, k, r.Key, "same resource, same key")
		}
		byHost[host.Str()] = r.Key
	}
	require.Len(t, byHost, 2)
	require.NotEqual(t, byHost["a"], byHost["b"])

	ld := oteltest.Logs(3, map[string]string{"host.name": "a"})
	oteltest.Logs(2, map[string]string{"host.name": "b"}).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	require.NoError(t, c.Logs().ConsumeLogs(ctx, ld))
	logs := consume(t, kc.ListenAddrs(), "otlp_logs", 2)
	require.Len(t, logs.records, 2)
	n := 0
	for _, r := range logs.records {
		require.Len(t, r.Key, 16)
		n += decodeLogs(t, "otlp_proto", r.Value).LogRecordCount()
	}
	require.Equal(t, 5, n)
}

// A request larger than max_message_bytes is split into messages that fit, which together
// hold exactly what was sent; a single span that cannot fit is dropped and counted.
func TestSplitToMaxMessageBytes(t *testing.T) {
	kc := cluster(t, 1)
	c, reg := run(t, kc.ListenAddrs(), func(a *Arguments) { a.Producer.MaxMessageBytes = 4096 })
	td := ptrace.NewTraces()
	for r := range 4 {
		oteltest.Traces(uint64(r), 60, map[string]string{"host.name": "node-" + strconv.Itoa(r)}).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	want := ptrace.NewTraces()
	td.CopyTo(want)
	huge := td.ResourceSpans().At(1).ScopeSpans().At(0).Spans().AppendEmpty()
	huge.SetName("huge")
	huge.Attributes().PutStr("blob", strings.Repeat("x", 5000))
	require.NoError(t, c.Traces().ConsumeTraces(context.Background(), td))

	spans := func(rs []*kgo.Record) int {
		n := 0
		for _, r := range rs {
			n += decodeTraces(t, "otlp_proto", r.Value).SpanCount()
		}
		return n
	}
	got := consumeUntil(t, kc.ListenAddrs(), "otlp_spans", func(rs []*kgo.Record) bool { return spans(rs) >= want.SpanCount() })
	require.Equal(t, len(got.records), got.total(), "nothing else in the topic")
	merged := ptrace.NewTraces()
	for _, r := range got.records {
		require.LessOrEqual(t, len(r.Value), 4096)
		decodeTraces(t, "otlp_proto", r.Value).ResourceSpans().MoveAndAppendTo(merged.ResourceSpans())
	}
	require.Greater(t, len(got.records), 4, "split below the resource")
	require.Equal(t, want.SpanCount(), merged.SpanCount())
	require.Equal(t, spanNames(want), spanNames(merged), "every span once, in order")
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_kafka_dropped_total", "signal", "traces", "reason", "message_too_large"))
}

// Bad arguments fail validation naming the field.
func TestBadConfig(t *testing.T) {
	cases := []struct {
		yaml   string
		fields []string
	}{
		{"brokers: []", []string{"brokers"}},
		{"brokers: [kafka]", []string{"brokers[0]"}},
		{"traces: {topic: 'a b'}", []string{"traces.topic"}},
		{"metrics: {encoding: jaeger_proto}", []string{"metrics.encoding"}},
		{"logs: {topic: ''}", []string{"logs.topic"}},
		{"producer: {max_message_bytes: 10}", []string{"producer.max_message_bytes"}},
		{"producer: {compression: brotli}", []string{"producer.compression"}},
		{"auth: {sasl: {mechanism: GSSAPI, username: u, password: p}}", []string{"auth.sasl.mechanism"}},
		{"auth: {sasl: {mechanism: PLAIN, username: u}}", []string{"auth.sasl.password"}},
		{"tls: {ca_file: /ca.pem}", []string{"tls.ca_file"}},
		{"tls: {server_name: kafka, ca_file: /ca.pem}", []string{"tls.ca_file", "tls.server_name"}},
		{"brokers: [\"kafka:\"]", []string{"brokers[0]"}},
		{"tls: {enabled: true, cert_file: /c.pem}", []string{"tls.cert_file"}},
		{"client_id: ''", []string{"client_id"}},
		{"sending_queue: {queue_size: 0}", []string{"sending_queue.queue_size"}},
	}
	for _, tc := range cases {
		t.Run(tc.yaml, func(t *testing.T) {
			a := pipelinetest.DecodeArgs[*Arguments](t, Registration, tc.yaml)
			require.Equal(t, tc.fields, pipelinetest.FieldsOf(a.Validate()))
		})
	}
	require.NoError(t, DefaultArguments().Validate())
}

func TestLifecycle(t *testing.T) {
	kc := cluster(t, 1)
	a := DefaultArguments()
	a.Brokers = kc.ListenAddrs()
	b := DefaultArguments()
	b.Brokers = kc.ListenAddrs()
	b.Traces.Topic = "spans"
	pipelinetest.Lifecycle(t, Registration, a, b)
}

func decodeTraces(t testing.TB, enc string, b []byte) ptrace.Traces {
	return decode(t, enc, b, (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces, (&ptrace.JSONUnmarshaler{}).UnmarshalTraces)
}

func decodeMetrics(t testing.TB, enc string, b []byte) pmetric.Metrics {
	return decode(t, enc, b, (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics, (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics)
}

func decodeLogs(t testing.TB, enc string, b []byte) plog.Logs {
	return decode(t, enc, b, (&plog.ProtoUnmarshaler{}).UnmarshalLogs, (&plog.JSONUnmarshaler{}).UnmarshalLogs)
}

func decode[T any](t testing.TB, enc string, b []byte, fromProto, fromJSON func([]byte) (T, error)) T {
	t.Helper()
	from := fromProto
	if enc == "otlp_json" {
		from = fromJSON
	}
	out, err := from(b)
	require.NoError(t, err)
	return out
}

// requireSame* compare pdata exactly, through their canonical protobuf encoding.
func requireSameTraces(t testing.TB, want, got ptrace.Traces) {
	t.Helper()
	m := &ptrace.ProtoMarshaler{}
	requireSame(t, want, got, m.MarshalTraces, ptrace.Traces.SpanCount)
}

func requireSameMetrics(t testing.TB, want, got pmetric.Metrics) {
	t.Helper()
	m := &pmetric.ProtoMarshaler{}
	requireSame(t, want, got, m.MarshalMetrics, pmetric.Metrics.DataPointCount)
}

func requireSameLogs(t testing.TB, want, got plog.Logs) {
	t.Helper()
	m := &plog.ProtoMarshaler{}
	requireSame(t, want, got, m.MarshalLogs, plog.Logs.LogRecordCount)
}

func requireSame[T any](t testing.TB, want, got T, marshal func(T) ([]byte, error), items func(T) int) {
	t.Helper()
	w, err := marshal(want)
	require.NoError(t, err)
	g, err := marshal(got)
	require.NoError(t, err)
	require.Equal(t, w, g)
	require.Equal(t, items(want), items(got))
}

func allSpans(td ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				out = append(out, sp)
			}
		}
	}
	return out
}

func spanNames(td ptrace.Traces) []string {
	var out []string
	for _, sp := range allSpans(td) {
		id := sp.TraceID()
		out = append(out, hex.EncodeToString(id[:])+"/"+sp.Name())
	}
	return out
}

// traceNumber inverts oteltest.TraceID for td's first span.
func traceNumber(t testing.TB, td ptrace.Traces) int {
	t.Helper()
	id := allSpans(td)[0].TraceID()
	n := int(id[15]) - 1
	require.GreaterOrEqual(t, n, 0)
	return n
}

func hostName(td ptrace.Traces) string {
	v, _ := td.ResourceSpans().At(0).Resource().Attributes().Get("host.name")
	return v.Str()
}

// A topic that does not exist is created by a broker that allows it
// (producer.allow_auto_topic_creation, default true); without it, the produce fails and
// nothing is written.
func TestAutoTopicCreation(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	c, _ := run(t, kc.ListenAddrs(), func(a *Arguments) { a.Traces.Topic = "team-a.spans" })
	td := oteltest.Traces(1, 2, nil)
	require.NoError(t, c.Traces().ConsumeTraces(context.Background(), td))
	got := consume(t, kc.ListenAddrs(), "team-a.spans", 1)
	requireSameTraces(t, td, decodeTraces(t, "otlp_proto", got.records[0].Value))

	off, reg := run(t, kc.ListenAddrs(), func(a *Arguments) {
		a.Traces.Topic = "team-b.spans"
		a.Producer.AllowAutoTopicCreation = false
		a.RetryOnFailure.Enabled = false
		a.Timeout = model.Duration(time.Second)
	})
	require.Error(t, off.Traces().ConsumeTraces(context.Background(), td))
	require.Equal(t, 1.0, pipelinetest.MetricSum(t, reg, "sonde_otelcol_exporter_kafka_produce_failures_total", "topic", "team-b.spans"))
}

// With topic_from_attribute, each resource goes to the topic its attribute names; those
// without it go to the signal's topic.
func TestTopicFromAttribute(t *testing.T) {
	kc := cluster(t, 1, kfake.SeedTopics(1, "team-a", "team-b"))
	c, reg := run(t, kc.ListenAddrs(), func(a *Arguments) { a.TopicFromAttribute = "kafka.topic" })
	ld := plog.NewLogs()
	for i, topic := range []string{"team-a", "", "team-b", "team-a"} {
		res := map[string]string{"host.name": "node-" + strconv.Itoa(i)}
		if topic != "" {
			res["kafka.topic"] = topic
		}
		oteltest.Logs(i+1, res).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	}
	require.NoError(t, c.Logs().ConsumeLogs(context.Background(), ld))
	hosts := func(topic string) []string {
		got := consume(t, kc.ListenAddrs(), topic, 1)
		require.Len(t, got.records, 1, topic)
		var out []string
		for _, rl := range decodeLogs(t, "otlp_proto", got.records[0].Value).ResourceLogs().All() {
			v, _ := rl.Resource().Attributes().Get("host.name")
			out = append(out, v.Str())
		}
		return out
	}
	require.Equal(t, []string{"node-0", "node-3"}, hosts("team-a"))
	require.Equal(t, []string{"node-2"}, hosts("team-b"))
	require.Equal(t, []string{"node-1"}, hosts("otlp_logs"))
	for _, topic := range []string{"team-a", "team-b", "otlp_logs"} {
		require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_otelcol_exporter_kafka_messages_total", "topic", topic))
	}
}
