package otlp

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// started is a receiver running in a test, sending everything to a Sink.
type started struct {
	c        *Component
	sink     *oteltest.Sink
	grpcAddr string
	httpAddr string
}

// start runs a receiver with both protocols on free ports; edit may change the arguments.
func start(t testing.TB, edit func(*Arguments)) *started {
	t.Helper()
	host := pipelinetest.NewHost()
	sink := oteltest.NewSink().Register(host, "sink")
	g, h := DefaultGRPC(), DefaultHTTP()
	g.Endpoint, h.Endpoint = backendtest.FreeAddr(t), backendtest.FreeAddr(t)
	a := &Arguments{GRPC: &g, HTTP: &h}
	a.Output.Traces = []string{"sink"}
	a.Output.Metrics = []string{"sink"}
	a.Output.Logs = []string{"sink"}
	if edit != nil {
		edit(a)
	}
	opts := pipelinetest.Options(t, "otelcol.receiver.otlp/test", host)
	c, err := New(opts, a)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	})
	s := &started{c: c, sink: sink}
	if a.GRPC != nil {
		s.grpcAddr = a.GRPC.Endpoint
		backendtest.WaitListening(t, s.grpcAddr)
	}
	if a.HTTP != nil {
		s.httpAddr = a.HTTP.Endpoint
		backendtest.WaitListening(t, s.httpAddr)
	}
	return s
}

func (s *started) url(path string) string { return "http://" + s.httpAddr + path }

var client = &http.Client{Timeout: 30 * time.Second}
