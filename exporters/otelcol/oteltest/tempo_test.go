package oteltest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestTempoHarness sends a trace straight to Tempo and reads it back, restart included.
func TestTempoHarness(t *testing.T) {
	tp := StartTempo(t)
	conn, err := grpc.NewClient(tp.OTLPGRPCEndpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(context.Background(),
		ptraceotlp.NewExportRequestFromTraces(Traces(42, 3, map[string]string{"k8s.pod.name": "p"})))
	require.NoError(t, err)

	var got ptrace.Traces
	require.Eventually(t, func() bool {
		td, found, err := tp.Trace(context.Background(), TraceID(42))
		require.NoError(t, err)
		got = td
		return found && td.SpanCount() == 3
	}, time.Minute, 200*time.Millisecond)
	v, ok := got.ResourceSpans().At(0).Resource().Attributes().Get("k8s.pod.name")
	require.True(t, ok)
	require.Equal(t, "p", v.Str())

	tp.Restart()
	_, found, err := tp.Trace(context.Background(), TraceID(42))
	require.NoError(t, err)
	require.True(t, found, "the trace survives a restart (WAL)")
}
