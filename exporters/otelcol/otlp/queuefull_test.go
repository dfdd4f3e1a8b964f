package otlp_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
)

// TestPersistentQueueFull: the presets' trace path (batch with wait_for_result → a
// persistent queue bounded in bytes) with the backend down: once the queue on disk is full,
// OTLP/HTTP senders get 429 with Retry-After (gRPC: RESOURCE_EXHAUSTED with RetryInfo) and
// send again later; nothing is accepted beyond the bound.
func TestPersistentQueueFull(t *testing.T) {
	srv := oteltest.NewGRPCServer(t)
	srv.Script(oteltest.Repeat(oteltest.Fault{Hang: true}, 1000)...)
	httpAddr := backendtest.FreeAddr(t)
	yml := fmt.Sprintf(`
components:
  otelcol.receiver.otlp/default:
    http: {endpoint: %q}
    output: {traces: [otelcol.processor.batch/default]}
  otelcol.processor.batch/default:
    timeout: 10ms
    wait_for_result: true
    output: {traces: [otelcol.exporter.otlp/default]}
  otelcol.exporter.otlp/default:
    client: {endpoint: %q, tls: {insecure: true}}
    timeout: 1m
    sending_queue: {persistent: true, sizer: bytes, queue_size: 20000, num_consumers: 1}
`, httpAddr, srv.Endpoint())
	oteltest.StartGraph(t, registry(t), yml, oteltest.GraphOptions{ShutdownTimeout: 2 * time.Second})
	backendtest.WaitListening(t, httpAddr)

	accepted := 0
	var full *http.Response
	for id := uint64(1); id <= 200 && full == nil; id++ {
		body, err := ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(id, 10, nil)).MarshalProto()
		require.NoError(t, err)
		resp, err := http.Post("http://"+httpAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			accepted++
		case http.StatusTooManyRequests:
			full = resp
		default:
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "components still starting")
		}
	}
	require.NotNil(t, full, "the queue never filled (%d accepted)", accepted)
	require.Equal(t, "1", full.Header.Get("Retry-After"))
	t.Logf("persistent queue of 20000 bytes, backend down: %d requests of 10 spans accepted, then 429 Retry-After: %s", accepted, full.Header.Get("Retry-After"))
	require.Positive(t, accepted)
}
