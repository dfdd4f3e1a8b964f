package otlp_test

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip"

	"github.com/sondehq/sonde/components/otelcol/processor/batch"
	"github.com/sondehq/sonde/components/otelcol/processor/memorylimiter"
	"github.com/sondehq/sonde/components/otelcol/receiver/otlp"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	otlpexporter "github.com/sondehq/sonde/exporters/otelcol/otlp"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// sidecar starts the sidecar graph — receiver → memory_limiter → batch → otlp exporter —
// forwarding to endpoint, and returns the receiver's gRPC address. durable sets what the
// sidecar preset sets: the batch waits for the result, the sending queue is on disk.
func sidecar(tb testing.TB, endpoint string, durable bool) string {
	tb.Helper()
	host := pipelinetest.NewHost()
	ea := otlpexporter.DefaultArguments()
	ea.Client.Endpoint = endpoint
	ea.Client.TLS.Insecure = true
	ea.RetryOnFailure.InitialInterval = model.Duration(10 * time.Millisecond)
	if durable {
		ea.SendingQueue.Persistent = true
		ea.SendingQueue.Sizer, ea.SendingQueue.QueueSize = "bytes", 64<<20
	}
	start(tb, host, "otelcol.exporter.otlp/default", otlpexporter.New, ea)

	ba := batch.DefaultArguments()
	ba.WaitForResult = durable
	ba.Output.Traces = []string{"otelcol.exporter.otlp/default"}
	start(tb, host, "otelcol.processor.batch/default", batch.New, ba)

	ma := memorylimiter.DefaultArguments()
	ma.LimitPercentage, ma.SpikeLimitPercentage = 80, 20
	ma.Output.Traces = []string{"otelcol.processor.batch/default"}
	start(tb, host, "otelcol.processor.memory_limiter/default", memorylimiter.New, ma)

	g := otlp.DefaultGRPC()
	g.Endpoint = backendtest.FreeAddr(tb)
	ra := &otlp.Arguments{GRPC: &g, Output: otelcol.Output{Traces: []string{"otelcol.processor.memory_limiter/default"}}}
	start(tb, host, "otelcol.receiver.otlp/default", otlp.New, ra)
	backendtest.WaitListening(tb, g.Endpoint)
	return g.Endpoint
}

// start builds a component with build, connects it to host under id as the controller
// does, and runs it until the test ends.
func start[A pipeline.Arguments, C pipeline.Component](tb testing.TB, host *pipelinetest.Host, id string, build func(pipeline.Options, A) (C, error), args A) C {
	tb.Helper()
	c, err := build(pipelinetest.Options(tb, id, host), args)
	require.NoError(tb, err)
	host.Export(id, c)
	pipelinetest.Run(tb, c)
	return c
}

// BenchmarkForwarding measures spans per second through the sidecar graph over real gRPC
// on loopback: clients send requests of 100 spans (gzip, like SDK exporters), a counting
// OTLP server is the backend. The clock stops when the backend has every span.
//
//	go test -run '^$' -bench Forwarding -benchtime 20000x ./exporters/otelcol/otlp/
func BenchmarkForwarding(b *testing.B) { benchmarkForwarding(b, false, 1) }

// BenchmarkForwardingDurable is BenchmarkForwarding with the sidecar preset's settings: a
// sender is answered once its batch is in the sending queue on disk (wait_for_result, a
// persistent queue), so each waits up to the batch timeout; 64 clients per core.
func BenchmarkForwardingDurable(b *testing.B) { benchmarkForwarding(b, true, 64) }

func benchmarkForwarding(b *testing.B, durable bool, clientsPerCore int) {
	backend := oteltest.NewCountingGRPCServer(b)
	addr := sidecar(b, backend.Endpoint(), durable)
	req := ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(1, 100, map[string]string{"k8s.pod.name": "p"}))

	b.ReportAllocs()
	b.SetParallelism(clientsPerCore)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.UseCompressor("gzip")))
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		c := ptraceotlp.NewGRPCClient(conn)
		for pb.Next() {
			if _, err := c.Export(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	want := int64(b.N) * 100
	for backend.Spans() < want {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(want)/b.Elapsed().Seconds()/float64(runtime.GOMAXPROCS(0)), "spans/s/core")
}

// BenchmarkIdleSidecar reports the resident memory of this process with the sidecar graph
// started and idle (the test binary adds a little of its own). Run it alone (-bench
// IdleSidecar): after another benchmark the process keeps memory that one used.
func BenchmarkIdleSidecar(b *testing.B) {
	backend := oteltest.NewCountingGRPCServer(b)
	sidecar(b, backend.Endpoint(), false)
	runtime.GC()
	debug.FreeOSMemory()
	for b.Loop() {
		time.Sleep(time.Millisecond) // idle
	}
	b.ReportMetric(float64(rss(b)), "rss_bytes")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse), "heap_inuse_bytes")
}

func rss(tb testing.TB) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	require.NoError(tb, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kib, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(tb, err)
			return kib << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}
