package kafka

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// BenchmarkExportSpans measures spans per second through the component (default sending
// queue: 10 consumers; block_on_overflow) into an in-process kfake cluster (3 partitions,
// acks=all, idempotent), requests of 512 spans as a batch processor sends them. The clock
// stops when Kafka acknowledged every span. cpu_ns/span is the process's CPU time (user +
// system) per span and includes the in-process broker's work.
//
//	go test -run '^$' -bench ExportSpans -benchtime 2000x ./exporters/otelcol/kafka/
func BenchmarkExportSpans(b *testing.B) {
	cases := []struct {
		name string
		edit func(*Arguments)
		// traces in each request of 512 spans
		traces int
	}{
		{name: "otlp_proto", traces: 1},
		{name: "otlp_json", traces: 1, edit: func(a *Arguments) { a.Traces.Encoding = "otlp_json" }},
		{name: "otlp_proto_by_trace_id", traces: 64, edit: func(a *Arguments) { a.PartitionTracesByID = true }},
		{name: "otlp_proto_zstd", traces: 1, edit: func(a *Arguments) { a.Producer.Compression = "zstd" }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			kc := cluster(b, 3)
			c, reg := run(b, kc.ListenAddrs(), func(a *Arguments) {
				a.SendingQueue.Enabled = true
				a.SendingQueue.BlockOnOverflow = true
				a.Producer.Linger = 0
				if tc.edit != nil {
					tc.edit(a)
				}
			})
			td := ptrace.NewTraces()
			per := 512 / tc.traces
			for tr := range tc.traces {
				oteltest.Traces(uint64(tr), per, map[string]string{"k8s.pod.name": "api-" + strconv.Itoa(tr%4)}).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			}
			spans := td.SpanCount()
			want := float64(b.N * spans)

			before := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := c.Traces().ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
			waitSent(b, reg, want)
			b.StopTimer()
			cpu := cpuTime() - before
			b.ReportMetric(want/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/want, "cpu_ns/span")
			b.ReportMetric(pipelinetest.MetricSum(b, reg, "sonde_otelcol_exporter_kafka_bytes_total")/want, "bytes/span")
		})
	}
}

// BenchmarkEncode measures the component's own work per request of 512 spans, without
// Kafka: cutting the request into messages and encoding them.
func BenchmarkEncode(b *testing.B) {
	for _, enc := range []string{"otlp_proto", "otlp_json"} {
		for _, byID := range []bool{false, true} {
			b.Run(enc+"/by_trace_id="+strconv.FormatBool(byID), func(b *testing.B) {
				c := tracesCodec(enc, byID)
				td := ptrace.NewTraces()
				for tr := range 64 {
					oteltest.Traces(uint64(tr), 8, nil).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
				}
				b.ReportAllocs()
				for b.Loop() {
					var msgs []message[ptrace.Traces]
					for _, p := range c.parts(td) {
						var err error
						msgs, _, err = c.encode(p.data, p.key, 1000000, msgs)
						require.NoError(b, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
			})
		}
	}
}

func waitSent(tb testing.TB, reg prometheus.Gatherer, want float64) {
	deadline := time.Now().Add(5 * time.Minute)
	for pipelinetest.MetricValue(tb, reg, "sonde_otelcol_exporter_sent_total", "signal", "traces") < want {
		if time.Now().After(deadline) {
			tb.Fatalf("Kafka did not acknowledge %.0f spans in 5 minutes", want)
		}
		time.Sleep(time.Millisecond)
	}
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
