package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// recordingTraces keeps what it was given; with mutate set it declares MutatesData and
// renames the first span, as a processor would.
type recordingTraces struct {
	mutate bool
	got    []ptrace.Traces
	err    error
}

func (r *recordingTraces) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: r.mutate}
}

func (r *recordingTraces) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	if r.mutate {
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("changed")
	}
	r.got = append(r.got, td)
	return r.err
}

func oneSpan() ptrace.Traces {
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("orig")
	return td
}

func spanName(td ptrace.Traces) string {
	return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name()
}

// same reports whether a and b are the same data (not copies): a change to one shows in the other.
func same(a, b ptrace.Traces) bool {
	old := spanName(a)
	defer a.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName(old)
	a.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("probe")
	return spanName(b) == "probe"
}

func TestFanOutClonesOnlyForMutatingConsumers(t *testing.T) {
	ctx := context.Background()
	ro1, ro2, mut1, mut2 := &recordingTraces{}, &recordingTraces{}, &recordingTraces{mutate: true}, &recordingTraces{mutate: true}

	td := oneSpan()
	require.NoError(t, FanOutTraces(ro1, mut1, ro2, mut2).ConsumeTraces(ctx, td))
	require.Equal(t, "orig", spanName(ro1.got[0]), "a mutating consumer never changes what read-only ones see")
	require.Equal(t, "orig", spanName(td))
	require.Equal(t, "changed", spanName(mut1.got[0]))
	require.Equal(t, "changed", spanName(mut2.got[0]))
	require.True(t, same(ro1.got[0], td), "read-only consumers share the data: no copy")
	require.True(t, same(ro2.got[0], td))
	require.False(t, same(mut1.got[0], td))
	require.False(t, same(mut2.got[0], td), "the last mutating one copies too while read-only ones share the original")

	// Read-only only: nobody copies. Mutating only: the last gets the original.
	ro3, ro4 := &recordingTraces{}, &recordingTraces{}
	td = oneSpan()
	require.NoError(t, FanOutTraces(ro3, ro4).ConsumeTraces(ctx, td))
	require.True(t, same(td, ro3.got[0]))
	require.True(t, same(td, ro4.got[0]))
	mut3, mut4 := &recordingTraces{mutate: true}, &recordingTraces{mutate: true}
	td = oneSpan()
	require.NoError(t, FanOutTraces(mut3, mut4).ConsumeTraces(ctx, td))
	require.False(t, same(td, mut3.got[0]), "every mutating consumer but the last gets a copy")
	require.True(t, same(td, mut4.got[0]))
}

func TestFanOutErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	ok, failing := &recordingTraces{}, &recordingTraces{err: boom}
	require.Same(t, boom, FanOutTraces(ok, failing).ConsumeTraces(ctx, oneSpan()),
		"a single error reaches the client as it is (a gRPC status stays one)")
	require.Len(t, ok.got, 1, "the others still take the data")
	err := FanOutTraces(failing, &recordingTraces{err: errors.New("bang")}).ConsumeTraces(ctx, oneSpan())
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "bang")
}

// tracesComp is a component exporting traces.
type tracesComp struct{ c *recordingTraces }

func (tracesComp) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (t tracesComp) Traces() consumer.Traces     { return t.c }

func TestOTLPHandleFollowsInstances(t *testing.T) {
	ctx := context.Background()
	h := &otlpHandle{id: "sink/a"}
	send := func() error {
		c, err := h.traces()
		if err != nil {
			return err
		}
		return c.ConsumeTraces(ctx, oneSpan())
	}
	require.EqualError(t, send(), "component sink/a is not running")

	first := tracesComp{&recordingTraces{}}
	h.attach(first)
	require.NoError(t, send())
	require.Len(t, first.c.got, 1)

	second := tracesComp{&recordingTraces{}}
	h.attach(second)
	h.release(first) // the old instance's Run returning late detaches nothing
	require.NoError(t, send())
	require.Len(t, second.c.got, 1)

	h.release(second)
	require.EqualError(t, send(), "component sink/a is not running", "a stopped instance takes nothing: clients send again")

	h.attach(restartOnlyComp{})
	_, err := h.metrics()
	require.EqualError(t, err, "component sink/a does not accept metrics")
}

type restartOnlyComp struct{}

func (restartOnlyComp) Run(ctx context.Context) error { <-ctx.Done(); return nil }
