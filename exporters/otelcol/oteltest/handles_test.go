package oteltest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestOTLPHandles checks pipeline's OTLP edges: stable handles that follow restarts, a
// retryable error while nothing runs, fan-out with a copy per consumer, errors passed back
// unchanged.
func TestOTLPHandles(t *testing.T) {
	host := pipelinetest.NewHost()
	ctx := context.Background()
	both := pipeline.OTLPTraces(host, []string{"a", "b"}) // resolved before a and b exist
	one := pipeline.OTLPTraces(host, []string{"a"})

	err := one.ConsumeTraces(ctx, Traces(1, 1, nil))
	require.ErrorContains(t, err, "component a is not running")

	a, b := NewSink().Register(host, "a"), NewSink().Register(host, "b")
	require.NoError(t, both.ConsumeTraces(ctx, Traces(1, 2, nil)))
	require.Equal(t, 2, a.SpanCount())
	require.Equal(t, 2, b.SpanCount())
	// Each consumer got its own copy.
	a.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().PutStr("changed", "yes")
	_, changed := b.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().Get("changed")
	require.False(t, changed)

	// A gRPC status from one consumer reaches the sender unchanged.
	b.Fail(status.Error(codes.ResourceExhausted, "full"))
	err = both.ConsumeTraces(ctx, Traces(2, 1, nil))
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	a.Fail(errors.New("down"))
	err = both.ConsumeTraces(ctx, Traces(3, 1, nil))
	require.ErrorContains(t, err, "down")
	require.ErrorContains(t, err, "full")

	// A restarted component (a new instance) takes over the handle; releasing the old
	// instance afterwards changes nothing.
	a2 := NewSink().Register(host, "a")
	require.NoError(t, one.ConsumeTraces(ctx, Traces(4, 3, nil)))
	require.Equal(t, 3, a2.SpanCount())
	pipeline.ReleaseOTLP(pipeline.Options{Host: host, ID: "a"}, a)
	require.NoError(t, one.ConsumeTraces(ctx, Traces(5, 1, nil)))
	pipeline.ReleaseOTLP(pipeline.Options{Host: host, ID: "a"}, a2)
	require.ErrorContains(t, one.ConsumeTraces(ctx, Traces(6, 1, nil)), "not running")

	// Another host is another namespace.
	other := pipeline.OTLPTraces(pipelinetest.NewHost(), []string{"b"})
	require.ErrorContains(t, other.ConsumeTraces(ctx, Traces(7, 1, nil)), "not running")

	// A component that does not accept a signal says so.
	require.ErrorContains(t, pipeline.OTLPLogs(host, []string{"nologs"}).ConsumeLogs(ctx, Logs(1, nil)), "not running")
	pipeline.ExportOTLP(pipeline.Options{Host: host, ID: "nologs"}, tracesOnly{a2})
	require.ErrorContains(t, pipeline.OTLPLogs(host, []string{"nologs"}).ConsumeLogs(ctx, Logs(1, nil)), "does not accept logs")
}

type tracesOnly struct{ *Sink }

func (tracesOnly) Logs() consumer.Logs { return nil }
