package otlp_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sondehq/sonde/components/otelcol/processor/batch"
	"github.com/sondehq/sonde/components/otelcol/processor/k8sattributes"
	"github.com/sondehq/sonde/components/otelcol/receiver/otlp"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	otlpexporter "github.com/sondehq/sonde/exporters/otelcol/otlp"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// graph is receiver → k8sattributes → batch → otlp exporter → a real backend (Tempo,
// Jaeger), run in a test.
type graph struct {
	grpcAddr, httpAddr string
}

// pods are what the fake node-local cache knows: the test client connects from 127.0.0.1.
var pods = k8sattributes.NewStaticPods(
	k8sattributes.Pod{
		UID: "0b6c6b34-1111-4c2e-9a3e-000000000001", Name: "checkout-7d4b9c6f58-abcde", Namespace: "shop",
		NodeName: "node-1", IP: "127.0.0.1",
		Containers:     []k8sattributes.Container{{Name: "checkout"}},
		ControllerKind: "ReplicaSet", ControllerName: "checkout-7d4b9c6f58",
	},
	k8sattributes.Pod{
		UID: "0b6c6b34-2222-4c2e-9a3e-000000000002", Name: "cart-0", Namespace: "shop", NodeName: "node-1",
		IP: "10.1.2.3", Containers: []k8sattributes.Container{{Name: "cart"}},
		ControllerKind: "StatefulSet", ControllerName: "cart",
	},
)

// startGraph runs the graph, exporting over OTLP/gRPC to backend (host:port).
// checkoutAttrs are the resource attributes a span from the checkout pod (127.0.0.1) gets.
var checkoutAttrs = map[string]string{
	"service.name":        "sonde-test",
	"k8s.namespace.name":  "shop",
	"k8s.pod.name":        "checkout-7d4b9c6f58-abcde",
	"k8s.pod.uid":         "0b6c6b34-1111-4c2e-9a3e-000000000001",
	"k8s.node.name":       "node-1",
	"k8s.container.name":  "checkout",
	"k8s.deployment.name": "checkout",
}

func startGraph(t *testing.T, backend string) *graph {
	t.Helper()
	host := pipelinetest.NewHost()

	ea := otlpexporter.DefaultArguments()
	ea.Client.Endpoint = backend
	ea.Client.TLS.Insecure = true
	ea.RetryOnFailure.InitialInterval = model.Duration(100 * time.Millisecond)
	ea.RetryOnFailure.MaxInterval = model.Duration(500 * time.Millisecond)
	ea.RetryOnFailure.MaxElapsedTime = 0 // a restarting backend loses nothing
	start(t, host, "otelcol.exporter.otlp/backend", otlpexporter.New, ea)

	ba := batch.DefaultArguments()
	ba.Timeout = model.Duration(50 * time.Millisecond)
	ba.Output.Traces = []string{"otelcol.exporter.otlp/backend"}
	start(t, host, "otelcol.processor.batch/default", batch.New, ba)

	ka := k8sattributes.DefaultArguments()
	ka.Output.Traces = []string{"otelcol.processor.batch/default"}
	start(t, host, "otelcol.processor.k8sattributes/default", func(opts pipeline.Options, a *k8sattributes.Arguments) (*k8sattributes.Component, error) {
		return k8sattributes.NewWithLookup(opts, a, pods)
	}, ka)

	g, h := otlp.DefaultGRPC(), otlp.DefaultHTTP()
	g.Endpoint, h.Endpoint = backendtest.FreeAddr(t), backendtest.FreeAddr(t)
	ra := &otlp.Arguments{GRPC: &g, HTTP: &h, Output: otelcol.Output{Traces: []string{"otelcol.processor.k8sattributes/default"}}}
	start(t, host, "otelcol.receiver.otlp/default", otlp.New, ra)
	backendtest.WaitListening(t, g.Endpoint)
	backendtest.WaitListening(t, h.Endpoint)
	return &graph{grpcAddr: g.Endpoint, httpAddr: h.Endpoint}
}

func (g *graph) sendGRPC(t *testing.T, td ptrace.Traces) error {
	t.Helper()
	conn, err := grpc.NewClient(g.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

func (g *graph) sendHTTPJSON(t *testing.T, td ptrace.Traces) int {
	t.Helper()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	require.NoError(t, err)
	resp, err := http.Post("http://"+g.httpAddr+"/v1/traces", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func requireAttrs(t *testing.T, td ptrace.Traces, want map[string]string) {
	t.Helper()
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		attrs := td.ResourceSpans().At(i).Resource().Attributes()
		for k, v := range want {
			got, ok := attrs.Get(k)
			require.True(t, ok, "resource attribute %s missing in %v", k, attrs.AsRaw())
			require.Equal(t, v, got.Str(), k)
		}
	}
}

// TestEndToEndTempo: spans sent over OTLP/gRPC and OTLP/HTTP JSON reach a real Tempo through
// receiver → k8sattributes → batch → exporter, with the Kubernetes attributes of the
// sending pod (found by the connection's address, or by the k8s.pod.uid a proxy set).
func TestEndToEndTempo(t *testing.T) {
	tempo := oteltest.StartTempo(t)
	g := startGraph(t, tempo.OTLPGRPCEndpoint())

	require.NoError(t, g.sendGRPC(t, oteltest.Traces(1001, 5, nil)))
	require.Equal(t, http.StatusOK, g.sendHTTPJSON(t, oteltest.Traces(1002, 3, map[string]string{"k8s.pod.uid": "0b6c6b34-2222-4c2e-9a3e-000000000002"})))

	td := oteltest.WaitTrace(t, tempo, oteltest.TraceID(1001), 5)
	requireAttrs(t, td, checkoutAttrs)
	td = oteltest.WaitTrace(t, tempo, oteltest.TraceID(1002), 3)
	requireAttrs(t, td, map[string]string{
		"k8s.namespace.name":   "shop",
		"k8s.pod.name":         "cart-0",
		"k8s.container.name":   "cart",
		"k8s.statefulset.name": "cart",
	})
}

// TestTempoRestartLosesNothing streams traces while Tempo is stopped and started again:
// every trace sonde accepted is in Tempo afterwards (the sending queue held them and the
// exporter retried).
func TestTempoRestartLosesNothing(t *testing.T) {
	tempo := oteltest.StartTempo(t)
	g := startGraph(t, tempo.OTLPGRPCEndpoint())

	var (
		mu       sync.Mutex
		accepted []uint64
	)
	stop := make(chan struct{})
	sent := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(2000); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := g.sendGRPC(t, oteltest.Traces(i, 2, nil)); err == nil {
				mu.Lock()
				accepted = append(accepted, i)
				mu.Unlock()
				select {
				case sent <- struct{}{}:
				default:
				}
			}
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }
	require.Eventually(t, func() bool { return count() >= 10 }, time.Minute, 10*time.Millisecond)
	tempo.Stop()
	before := count()
	require.Eventually(t, func() bool { return count() >= before+10 }, time.Minute, 10*time.Millisecond, "sonde keeps accepting while Tempo is down")
	tempo.Start()
	after := count()
	require.Eventually(t, func() bool { return count() >= after+10 }, time.Minute, 10*time.Millisecond)
	close(stop)
	<-done

	mu.Lock()
	ids := append([]uint64(nil), accepted...)
	mu.Unlock()
	t.Logf("%d traces accepted, %d of them while Tempo was down", len(ids), after-before)
	for _, id := range ids {
		oteltest.WaitTrace(t, tempo, oteltest.TraceID(id), 2)
	}
}
