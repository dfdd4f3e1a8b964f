//go:build full

package otlp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// sdkClient is an application instrumented with the OpenTelemetry Go SDK sending to the
// graph's receiver over proto, shut down when the test ends.
func sdkClient(t *testing.T, g *graph, proto oteltest.SDKProtocol) *oteltest.SDKClient {
	t.Helper()
	addr := g.grpcAddr
	if proto == oteltest.SDKHTTP {
		addr = g.httpAddr
	}
	c, err := oteltest.NewSDKClient(context.Background(), proto, addr, "sonde-test", nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}

// flush exports what c recorded; nil means the receiver accepted it.
func flush(c *oteltest.SDKClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Flush(ctx)
}

// TestEndToEndJaeger: spans an application sends with the OpenTelemetry SDK, over OTLP/gRPC
// and OTLP/HTTP, reach a real Jaeger v2 through receiver → k8sattributes → batch → exporter,
// with the Kubernetes attributes of the sending pod (found by the connection's address).
func TestEndToEndJaeger(t *testing.T) {
	jaeger := oteltest.StartJaeger(t)
	g := startGraph(t, jaeger.OTLPGRPCEndpoint())

	for _, proto := range []oteltest.SDKProtocol{oteltest.SDKGRPC, oteltest.SDKHTTP} {
		t.Run(string(proto), func(t *testing.T) {
			c := sdkClient(t, g, proto)
			id := c.Trace(context.Background(), "GET /api/items", 4)
			require.NoError(t, flush(c))

			td := oteltest.WaitTrace(t, jaeger, id, 4)
			requireAttrs(t, td, checkoutAttrs)
			names := map[string]bool{}
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				ss := td.ResourceSpans().At(i).ScopeSpans()
				for j := 0; j < ss.Len(); j++ {
					for k := 0; k < ss.At(j).Spans().Len(); k++ {
						names[ss.At(j).Spans().At(k).Name()] = true
					}
				}
			}
			require.Equal(t, map[string]bool{
				"GET /api/items": true, "GET /api/items/step-1": true,
				"GET /api/items/step-2": true, "GET /api/items/step-3": true,
			}, names)
		})
	}
}

// TestJaegerRestartLosesNothing: two SDK clients (gRPC, HTTP) send traces while Jaeger is
// stopped and started again; every trace sonde accepted is in Jaeger afterwards, those sent
// before the stop included (Badger keeps them; the sending queue held the rest and the
// exporter retried).
//
// A trace counts as accepted when the client's Flush after it succeeded. The SDK's batch
// timer may export a trace in the background, whose refusal Flush does not report: that
// would fail this test, never make it pass wrongly (sonde refuses nothing here).
func TestJaegerRestartLosesNothing(t *testing.T) {
	jaeger := oteltest.StartJaeger(t)
	g := startGraph(t, jaeger.OTLPGRPCEndpoint())
	clients := []*oteltest.SDKClient{sdkClient(t, g, oteltest.SDKGRPC), sdkClient(t, g, oteltest.SDKHTTP)}

	var (
		mu       sync.Mutex
		accepted []pcommon.TraceID
		refused  int
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			c := clients[i%len(clients)]
			id := c.Trace(context.Background(), "checkout", 2)
			err := flush(c)
			mu.Lock()
			if err == nil {
				accepted = append(accepted, id)
			} else {
				refused++
			}
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }
	require.Eventually(t, func() bool { return count() >= 20 }, time.Minute, 10*time.Millisecond)
	jaeger.Stop()
	before := count()
	require.Eventually(t, func() bool { return count() >= before+20 }, time.Minute, 10*time.Millisecond,
		"sonde keeps accepting while Jaeger is down")
	jaeger.Start()
	after := count()
	require.Eventually(t, func() bool { return count() >= after+20 }, time.Minute, 10*time.Millisecond)
	close(stop)
	<-done

	mu.Lock()
	ids := append([]pcommon.TraceID(nil), accepted...)
	t.Logf("%d traces accepted (%d before the stop, %d while Jaeger was down), %d refused",
		len(ids), before, after-before, refused)
	mu.Unlock()
	for _, id := range ids {
		oteltest.WaitTrace(t, jaeger, id, 2)
	}
}
