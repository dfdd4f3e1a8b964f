package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// TestE2ESidecarOTLPHTTP runs the sidecar preset with --otlp-protocol http/protobuf pointed
// at the OTLP/HTTP port of a real Tempo, given as a bare host:port as a user would (the
// gRPC exporter could not talk to it): an application's spans, sent to sonde over OTLP/gRPC
// and over OTLP/HTTP, are read back from Tempo's query API.
func TestE2ESidecarOTLPHTTP(t *testing.T) {
	tempo := oteltest.StartTempo(t)
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", backendtest.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", backendtest.FreePort(t))
	t.Setenv("SONDE_OTLP_GRPC_LISTEN", grpcAddr)
	t.Setenv("SONDE_OTLP_HTTP_LISTEN", httpAddr)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") // the flag wins
	s := newSonde(t, "--preset", "sidecar", "--otlp-protocol", "http/protobuf",
		"--otlp-endpoint", strings.TrimPrefix(tempo.OTLPHTTPEndpoint(), "http://"))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, proto := range []oteltest.SDKProtocol{oteltest.SDKGRPC, oteltest.SDKHTTP} {
		addr := map[oteltest.SDKProtocol]string{oteltest.SDKGRPC: grpcAddr, oteltest.SDKHTTP: httpAddr}[proto]
		c, err := oteltest.NewSDKClient(ctx, proto, addr, "checkout", nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
		id := c.Trace(ctx, "GET /api/items", 3)
		require.NoError(t, c.Flush(ctx), "sonde refused spans over %s", proto)
		td := oteltest.WaitTrace(t, tempo, id, 3)
		require.True(t, hasResourceAttrs(td, map[string]string{"service.name": "checkout"}), "trace over %s: %v", proto, resourceAttrs(td))
	}
	// Over OTLP/HTTP, answered 200 by Tempo's /v1/traces: nothing went out over gRPC.
	require.Eventually(t, func() bool {
		return s.metric(t, "sonde_otelcol_exporter_sent_total", `signal="traces"`) == 6
	}, 10*time.Second, 50*time.Millisecond, "spans counted as sent")
	require.Positive(t, s.metric(t, "sonde_otelcol_exporter_requests_total", `transport="http"`, `code="200"`))
	require.Zero(t, s.metric(t, "sonde_otelcol_exporter_requests_total", `transport="grpc"`))
	require.Zero(t, s.metric(t, "sonde_otelcol_exporter_dropped_total"))
}
