package otlp

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestPersistentQueueSurvivesRestart queues data while the backend refuses it, stops the
// component, and starts a new one on the same data directory: the new one sends what the
// first one held.
func TestPersistentQueueSurvivesRestart(t *testing.T) {
	srv := oteltest.NewGRPCServer(t)
	srv.Script(oteltest.Repeat(oteltest.Fault{Code: codes.Unavailable}, 10000)...)

	a := DefaultArguments()
	a.Client.Endpoint = srv.Endpoint()
	a.Client.TLS.Insecure = true
	a.SendingQueue.Persistent = true
	a.SendingQueue.NumConsumers = 2
	a.RetryOnFailure.InitialInterval = model.Duration(20 * time.Millisecond)
	a.RetryOnFailure.MaxInterval = model.Duration(50 * time.Millisecond)
	a.RetryOnFailure.MaxElapsedTime = 0 // never give up

	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(t, "otelcol.exporter.otlp/persist", host)
	first, err := New(opts, a)
	require.NoError(t, err)
	stop := oteltest.StartExporter(t, first)
	for i := range 5 {
		require.NoError(t, first.Traces().ConsumeTraces(context.Background(), oteltest.Traces(uint64(i+1), 4, nil)))
	}
	require.Eventually(t, func() bool { return len(srv.Requests()) >= 3 }, 30*time.Second, 5*time.Millisecond, "the backend is being tried")
	stop()
	require.Zero(t, srv.Spans())

	srv.Reset() // the backend is back
	opts2 := pipelinetest.Options(t, "otelcol.exporter.otlp/persist", host)
	opts2.DataPath = opts.DataPath
	second, err := New(opts2, a)
	require.NoError(t, err)
	oteltest.StartExporter(t, second)
	require.Eventually(t, func() bool { return srv.Spans() >= 20 }, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, 20, srv.Spans(), "each request once (the one in flight at the stop may come twice, not here: nothing was accepted)")
}
