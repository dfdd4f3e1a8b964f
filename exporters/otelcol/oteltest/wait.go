package oteltest

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TraceReader reads traces back from a real backend (Tempo, Jaeger).
type TraceReader interface {
	Trace(ctx context.Context, id pcommon.TraceID) (td ptrace.Traces, found bool, err error)
}

// WaitTrace reads trace id back from r until it has spans spans, for two minutes at most
// (backends index what they receive asynchronously).
func WaitTrace(t testing.TB, r TraceReader, id pcommon.TraceID, spans int) ptrace.Traces {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var (
		last ptrace.Traces
		err  error
	)
	for time.Now().Before(deadline) {
		var found bool
		last, found, err = r.Trace(context.Background(), id)
		if err == nil && found && last.SpanCount() == spans {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := 0
	if err == nil {
		got = last.SpanCount()
	}
	t.Fatalf("trace %s with %d spans never showed up (last read: %d spans, err %v)", id, spans, got, err)
	return last
}
