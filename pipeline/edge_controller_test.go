package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// pub publishes one target naming its instance when Run starts; its first run fails.
type pub struct {
	pipeline.TargetsPublisher
	gen  int32
	runs *atomic.Int32
}

func (p *pub) Run(ctx context.Context) error {
	p.Publish(pipeline.Targets{{model.AddressLabel: model.LabelValue("gen" + strconv.Itoa(int(p.gen)))}})
	if p.runs.Add(1) == 1 {
		return errors.New("first run fails")
	}
	<-ctx.Done()
	return nil
}

// TestControllerTargetsFollowRestarts: the targets a component published stay while it is
// rebuilt after a failed run, the new instance's replace them, and they are gone once the
// component is removed from the graph.
func TestControllerTargetsFollowRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs, built atomic.Int32
		reg, err := pipeline.NewRegistry(pipeline.Register("test.pub", func() *regArgs { return &regArgs{} },
			func(pipeline.Options, *regArgs) (*pub, error) {
				return &pub{gen: built.Add(1), runs: &runs}, nil
			}, pipeline.KindTargets))
		require.NoError(t, err)
		c := pipeline.NewController(pipeline.ControllerOptions{Registry: reg, Registerer: prometheus.NewRegistry(),
			DataPath: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		published := func() pipeline.Targets { ts, _ := c.PublishedTargets("test.pub/p"); return ts }

		require.NoError(t, c.Apply([]pipeline.Spec{spec("test.pub/p", &regArgs{}, "1")}))
		synctest.Wait()
		require.Equal(t, pipeline.Targets{{model.AddressLabel: "gen1"}}, published(), "kept while the component waits to restart")
		time.Sleep(1500 * time.Millisecond) // past the first backoff
		synctest.Wait()
		require.Equal(t, pipeline.Targets{{model.AddressLabel: "gen2"}}, published(), "the rebuilt instance's targets")

		require.NoError(t, c.Apply(nil))
		_, ok := c.PublishedTargets("test.pub/p")
		require.False(t, ok, "a removed component publishes nothing")
		cancel()
		<-done
	})
}
