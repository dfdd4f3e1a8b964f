package pipeline_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

type regArgs struct{ N int }

func (a *regArgs) Validate() error {
	if a.N < 0 {
		return pipeline.Field("n", "must not be negative")
	}
	return nil
}

// updatable updates in place; it exports nothing.
type updatable struct{ got *regArgs }

func (*updatable) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (u *updatable) Update(a *regArgs) error     { u.got = a; return nil }

// restartOnly has no Update.
type restartOnly struct{}

func (restartOnly) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// liar implements MetricsReceiver.
type liar struct{ restartOnly }

func (liar) Appendable() pipeline.Appendable { return pipelinetest.NewSink() }

func TestRegisterChecksArgumentsOnce(t *testing.T) {
	built := 0
	reg := pipeline.Register("test.typed", func() *regArgs { return &regArgs{N: 1} },
		func(_ pipeline.Options, a *regArgs) (*updatable, error) { built++; return &updatable{got: a}, nil })

	require.Equal(t, &regArgs{N: 1}, reg.Args(), "Args returns the defaults")

	_, err := reg.New(pipeline.Options{}, &flakyArgs{})
	require.EqualError(t, err, "test.typed: unexpected arguments type *pipeline_test.flakyArgs")
	_, err = reg.New(pipeline.Options{}, &regArgs{N: -1})
	var fe *pipeline.FieldError
	require.True(t, errors.As(err, &fe), "Validate's field error reaches the caller: %v", err)
	require.Zero(t, built, "build is not called with bad arguments")

	c, err := reg.New(pipeline.Options{}, &regArgs{N: 2})
	require.NoError(t, err)
	require.NotNil(t, reg.Update, "a component implementing Updater[A] updates in place")
	require.NoError(t, reg.Update(c, &regArgs{N: 3}))
	require.Equal(t, 3, c.(*updatable).got.N)
	require.Error(t, reg.Update(c, &regArgs{N: -3}), "Update validates too")
	require.Equal(t, 3, c.(*updatable).got.N)

	r2 := pipeline.Register("test.restart", func() *regArgs { return &regArgs{} },
		func(pipeline.Options, *regArgs) (restartOnly, error) { return restartOnly{}, nil })
	require.Nil(t, r2.Update, "no Updater: restarted for new arguments")
}

func TestRegistryChecksExportsAgainstInterfaces(t *testing.T) {
	newLiar := func(pipeline.Options, *regArgs) (liar, error) { return liar{}, nil }
	defaults := func() *regArgs { return &regArgs{} }

	_, err := pipeline.NewRegistry(pipeline.Register("test.liar", defaults, newLiar))
	require.EqualError(t, err, "test.liar implements pipeline.MetricsReceiver but does not export metrics")

	_, err = pipeline.NewRegistry(pipeline.Register("test.liar", defaults, newLiar, pipeline.KindMetrics, pipeline.KindLogs))
	require.EqualError(t, err, "test.liar exports logs but does not implement pipeline.LogsReceiver")

	_, err = pipeline.NewRegistry(pipeline.Register("test.liar", defaults, newLiar, pipeline.KindMetrics))
	require.NoError(t, err)
}
