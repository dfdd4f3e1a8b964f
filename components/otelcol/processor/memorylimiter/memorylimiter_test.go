package memorylimiter

import (
	"bytes"
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/components/otelcol/receiver/otlp"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func newLimiter(t *testing.T, host *pipelinetest.Host, heap *atomic.Uint64) *Component {
	t.Helper()
	a := DefaultArguments()
	a.Limit = 100 << 20
	a.SpikeLimit = 20 << 20
	a.Output.Traces = []string{"sink"}
	opts := pipelinetest.Options(t, "otelcol.processor.memory_limiter/test", host)
	c, err := New(opts, a)
	require.NoError(t, err)
	c.readHeap = heap.Load
	host.Export(opts.ID, c)
	return c
}

func TestRefusesAboveSoftLimit(t *testing.T) {
	host := pipelinetest.NewHost()
	sink := oteltest.NewSink().Register(host, "sink")
	var heap atomic.Uint64
	c := newLimiter(t, host, &heap)
	ctx := context.Background()

	cases := []struct {
		name    string
		heap    uint64
		refused bool
	}{
		{name: "well below", heap: 10 << 20},
		{name: "just below the soft limit", heap: 80 << 20},
		{name: "above the soft limit", heap: 81 << 20, refused: true},
		{name: "above the hard limit", heap: 200 << 20, refused: true},
		{name: "back below", heap: 50 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			heap.Store(tc.heap)
			c.check()
			before := sink.SpanCount()
			err := c.Traces().ConsumeTraces(ctx, oteltest.Traces(1, 2, nil))
			if !tc.refused {
				require.NoError(t, err)
				require.Equal(t, before+2, sink.SpanCount())
				return
			}
			st := status.Convert(err)
			require.Equal(t, codes.ResourceExhausted, st.Code())
			require.Len(t, st.Details(), 1)
			require.Equal(t, time.Second, st.Details()[0].(*errdetails.RetryInfo).GetRetryDelay().AsDuration())
			require.Equal(t, before, sink.SpanCount())
		})
	}
	require.Equal(t, 4.0, testutil.ToFloat64(c.metrics.refused.WithLabelValues("traces")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.gcs), "a GC is forced above the hard limit")
}

// TestReceiverAnswers429 runs otelcol.receiver.otlp → memory_limiter → sink: over the limit,
// HTTP senders get 429 with Retry-After and gRPC senders RESOURCE_EXHAUSTED with RetryInfo,
// never a 500.
func TestReceiverAnswers429(t *testing.T) {
	host := pipelinetest.NewHost()
	sink := oteltest.NewSink().Register(host, "sink")
	var heap atomic.Uint64
	lim := newLimiter(t, host, &heap)

	g, h := otlp.DefaultGRPC(), otlp.DefaultHTTP()
	g.Endpoint, h.Endpoint = backendtest.FreeAddr(t), backendtest.FreeAddr(t)
	ra := &otlp.Arguments{GRPC: &g, HTTP: &h, Output: otelcol.Output{Traces: []string{"otelcol.processor.memory_limiter/test"}}}
	rc, err := otlp.New(pipelinetest.Options(t, "otelcol.receiver.otlp/test", host), ra)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rc.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	backendtest.WaitListening(t, h.Endpoint)
	backendtest.WaitListening(t, g.Endpoint)

	body, err := ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(1, 3, nil)).MarshalProto()
	require.NoError(t, err)
	post := func() *http.Response {
		resp, err := http.Post("http://"+h.Endpoint+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	conn, err := grpc.NewClient(g.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	gc := ptraceotlp.NewGRPCClient(conn)

	heap.Store(90 << 20)
	lim.check()
	resp := post()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	_, err = gc.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(1, 3, nil)))
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	require.Zero(t, sink.SpanCount())

	heap.Store(10 << 20)
	lim.check()
	require.Equal(t, http.StatusOK, post().StatusCode)
	require.Equal(t, 3, sink.SpanCount())
}

func TestLimits(t *testing.T) {
	cases := []struct {
		name       string
		args       Arguments
		total      uint64
		hard, soft uint64
		err        string
	}{
		{name: "absolute, default spike 20%", args: Arguments{Limit: 500}, hard: 500, soft: 400},
		{name: "absolute with spike", args: Arguments{Limit: 500, SpikeLimit: 100}, hard: 500, soft: 400},
		{name: "percentage", args: Arguments{LimitPercentage: 80, SpikeLimitPercentage: 20}, total: 1000, hard: 800, soft: 600},
		{name: "percentage, memory unknown", args: Arguments{LimitPercentage: 80}, err: "limit_percentage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hard, soft, err := tc.args.limits(tc.total)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.hard, hard)
			require.Equal(t, tc.soft, soft)
		})
	}
	require.NotZero(t, totalMemory(), "this machine's memory is readable")
	require.NotZero(t, heapBytes())
}

func TestValidate(t *testing.T) {
	a := DefaultArguments()
	err := a.Validate()
	require.ErrorContains(t, err, "limit: one of limit and limit_percentage is required")
	require.ErrorContains(t, err, "output")
	a.Limit, a.LimitPercentage = 10, 50
	require.ErrorContains(t, a.Validate(), "exclude each other")
	a.LimitPercentage, a.SpikeLimit = 0, 10
	require.ErrorContains(t, a.Validate(), "spike_limit: must be below limit")
}

func TestLifecycle(t *testing.T) {
	a := DefaultArguments()
	a.Limit = 1 << 30
	a.Output.Traces = []string{"x"}
	b := *a
	b.LimitPercentage, b.Limit = 90, 0
	pipelinetest.Lifecycle(t, Registration, a, &b)
}
