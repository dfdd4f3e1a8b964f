package oteltest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestOTLPEdges checks the OTLP edges a component under test sees through a
// pipelinetest.Host: ids resolved before their components exist, errors passed back
// unchanged, a retryable error while nothing runs, and a clear error for a signal the
// component does not accept.
func TestOTLPEdges(t *testing.T) {
	host := pipelinetest.NewHost()
	ctx := context.Background()
	both := host.OTLPTraces([]string{"a", "b"}) // resolved before a and b exist
	one := host.OTLPTraces([]string{"a"})

	err := one.ConsumeTraces(ctx, Traces(1, 1, nil))
	require.ErrorContains(t, err, "component a is not running")
	require.False(t, consumererror.IsPermanent(err), "retryable: OTLP clients send again")

	a, b := NewSink().Register(host, "a"), NewSink().Register(host, "b")
	require.NoError(t, both.ConsumeTraces(ctx, Traces(1, 2, nil)))
	require.Equal(t, 2, a.SpanCount())
	require.Equal(t, 2, b.SpanCount())

	// A gRPC status from one consumer reaches the sender unchanged.
	b.Fail(status.Error(codes.ResourceExhausted, "full"))
	err = both.ConsumeTraces(ctx, Traces(2, 1, nil))
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	a.Fail(errors.New("down"))
	err = both.ConsumeTraces(ctx, Traces(3, 1, nil))
	require.ErrorContains(t, err, "down")
	require.ErrorContains(t, err, "full")

	// A restarted component (a new instance) takes over the id; a stopped one refuses.
	a2 := NewSink().Register(host, "a")
	require.NoError(t, one.ConsumeTraces(ctx, Traces(4, 3, nil)))
	require.Equal(t, 3, a2.SpanCount())
	host.Export("a", nil)
	err = one.ConsumeTraces(ctx, Traces(5, 1, nil))
	require.ErrorContains(t, err, "not running")
	require.False(t, consumererror.IsPermanent(err))

	// A component that does not accept a signal says so.
	require.ErrorContains(t, host.OTLPLogs([]string{"nologs"}).ConsumeLogs(ctx, Logs(1, nil)), "not running")
	host.Export("nologs", tracesOnly{a2})
	require.ErrorContains(t, host.OTLPLogs([]string{"nologs"}).ConsumeLogs(ctx, Logs(1, nil)), "does not accept logs")
	require.NoError(t, host.OTLPTraces([]string{"nologs"}).ConsumeTraces(ctx, Traces(6, 1, nil)))
}

// tracesOnly is a component accepting traces alone.
type tracesOnly struct{ s *Sink }

func (t tracesOnly) Run(ctx context.Context) error { return t.s.Run(ctx) }
func (t tracesOnly) Traces() consumer.Traces       { return t.s.Traces() }
