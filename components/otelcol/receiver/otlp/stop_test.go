package otlp

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// waitingSink stands for a next component that answers only once its data is durable and
// never gets there (Loki down): each call waits for its context.
type waitingSink struct{ waiting chan struct{} }

func (s *waitingSink) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (s *waitingSink) Traces() consumer.Traces {
	c, _ := consumer.NewTraces(func(ctx context.Context, _ ptrace.Traces) error {
		s.waiting <- struct{}{}
		<-ctx.Done()
		return status.Error(codes.Unavailable, "not confirmed: "+ctx.Err().Error())
	})
	return c
}

// TestStopCancelsWaitingRequests: a stopping receiver lets the requests it serves wait
// RequestGrace for the next component's answer, then ends them (503 / UNAVAILABLE: the
// senders send again) and returns; it waited for them for ever (gRPC's GracefulStop) before.
func TestStopCancelsWaitingRequests(t *testing.T) {
	host := pipelinetest.NewHost()
	sink := &waitingSink{waiting: make(chan struct{}, 2)}
	host.Export("sink", sink)
	g, h := DefaultGRPC(), DefaultHTTP()
	g.Endpoint, h.Endpoint = backendtest.FreeAddr(t), backendtest.FreeAddr(t)
	a := &Arguments{GRPC: &g, HTTP: &h}
	a.Output.Traces = []string{"sink"}
	c, err := New(pipelinetest.Options(t, "otelcol.receiver.otlp/test", host), a)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	backendtest.WaitListening(t, g.Endpoint)
	backendtest.WaitListening(t, h.Endpoint)

	conn, err := grpc.NewClient(g.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	req := ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(1, 1, nil))
	grpcAnswer := make(chan error, 1)
	go func() {
		_, err := ptraceotlp.NewGRPCClient(conn).Export(context.Background(), req)
		grpcAnswer <- err
	}()
	body, err := req.MarshalProto()
	require.NoError(t, err)
	httpAnswer := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+h.Endpoint+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			httpAnswer <- 0
			return
		}
		resp.Body.Close()
		httpAnswer <- resp.StatusCode
	}()
	<-sink.waiting
	<-sink.waiting

	began := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return: the stop waits on the requests")
	}
	took := time.Since(began)
	require.GreaterOrEqual(t, took, RequestGrace, "the requests had their grace")
	require.Less(t, took, RequestGrace+time.Second)
	require.Equal(t, codes.Unavailable, status.Code(<-grpcAnswer), "asked to send again")
	require.Equal(t, http.StatusServiceUnavailable, <-httpAnswer)
}
