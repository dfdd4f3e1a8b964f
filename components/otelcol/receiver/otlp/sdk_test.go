package otlp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// TestOpenTelemetrySDK: an application instrumented with the OpenTelemetry Go SDK (OTLP/gRPC,
// and OTLP/HTTP protobuf with gzip) delivers its spans, resource and parent links intact.
func TestOpenTelemetrySDK(t *testing.T) {
	s := start(t, nil)
	for _, tc := range []struct {
		proto oteltest.SDKProtocol
		addr  string
	}{{oteltest.SDKGRPC, s.grpcAddr}, {oteltest.SDKHTTP, s.httpAddr}} {
		t.Run(string(tc.proto), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := oteltest.NewSDKClient(ctx, tc.proto, tc.addr, "checkout", map[string]string{"deployment.environment": "test"})
			require.NoError(t, err)
			defer c.Shutdown(context.Background())
			id := c.Trace(ctx, "GET /api/items", 4)
			require.NoError(t, c.Flush(ctx))

			var spans, roots int
			for _, td := range s.sink.AllTraces() {
				for i := 0; i < td.ResourceSpans().Len(); i++ {
					rs := td.ResourceSpans().At(i)
					svc, _ := rs.Resource().Attributes().Get("service.name")
					env, _ := rs.Resource().Attributes().Get("deployment.environment")
					for j := 0; j < rs.ScopeSpans().Len(); j++ {
						ss := rs.ScopeSpans().At(j)
						for k := 0; k < ss.Spans().Len(); k++ {
							sp := ss.Spans().At(k)
							if sp.TraceID() != id {
								continue
							}
							require.Equal(t, "checkout", svc.Str())
							require.Equal(t, "test", env.Str())
							spans++
							if sp.ParentSpanID() == (pcommon.SpanID{}) {
								roots++
								route, _ := sp.Attributes().Get("http.route")
								require.Equal(t, "/api/items", route.Str())
							}
						}
					}
				}
			}
			require.Equal(t, 4, spans, "spans of trace %s", id)
			require.Equal(t, 1, roots)
		})
	}
}
