package write

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// sendOnce is a logs source for controller tests: its Run sends one batch to forward_to,
// whose acknowledgement goes to acks as batch "A", then waits to be stopped.
type sendOnce struct {
	to   pipeline.LogsReceiver
	acks *acks
}

func (s *sendOnce) Run(ctx context.Context) error {
	if err := s.to.ConsumeLogs(ctx, s.acks.batch("A", logEntries(api, "x", 5, t0))); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func sendOnceRegistration(a *acks) pipeline.Registration {
	return pipeline.Registration{
		Type: "test.send_once",
		Args: func() pipeline.Arguments { return &sourceArgs{} },
		New: func(o pipeline.Options, args pipeline.Arguments) (pipeline.Component, error) {
			return &sendOnce{to: o.Host.Logs(args.(*sourceArgs).ForwardTo), acks: a}, nil
		},
	}
}

// TestShutdownWithinBudget: with Loki down (503) or hanging, stopping the agent ends
// loki.write's drain at the controller's shutdown deadline, not at drain_timeout (1h here,
// which stays an upper bound), and the batch it could not send is not acknowledged at all:
// neither as delivered nor with an error, which would let its source move its positions
// past it.
func TestShutdownWithinBudget(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp lokitest.Response
	}{
		{"loki answers 503", lokitest.Response{Status: 503}},
		{"loki hangs", lokitest.Response{Hang: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := lokitest.NewReceiver(t)
			rcv.SetDefault(tc.resp)
			a := newAcks()
			reg, err := pipeline.NewRegistry(Registration, sendOnceRegistration(a))
			require.NoError(t, err)
			logs := &pipelinetest.LogBuffer{}
			const budget = 2 * time.Second
			ctl := pipeline.NewController(pipeline.ControllerOptions{
				Registry: reg, Logger: logs.Logger(slog.LevelInfo), Registerer: prometheus.NewRegistry(),
				DataPath: t.TempDir(), ShutdownTimeout: budget,
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { ctl.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })

			args := validArgs(t, "endpoints:\n"+endpointYAML("a", rcv.URL,
				"batch_wait: 10ms\n    min_backoff: 10ms\n    max_backoff: 50ms\n    timeout: 1h\n    queue_config: {drain_timeout: 1h}\n"))
			require.NoError(t, ctl.Apply([]pipeline.Spec{
				{ID: "test.send_once/s", Type: "test.send_once", Name: "s", Args: &sourceArgs{ForwardTo: []string{"loki.write/w"}}},
				{ID: "loki.write/w", Type: "loki.write", Name: "w", Args: args},
			}))
			select {
			case <-rcv.Changed(): // loki.write is trying
			case <-time.After(30 * time.Second):
				t.Fatal("no push request")
			}

			stopped := time.Now()
			cancel()
			select {
			case <-done:
			case <-time.After(budget + 10*time.Second):
				t.Fatal("the controller did not return")
			}
			took := time.Since(stopped)
			t.Logf("stopped in %v (budget %v)", took.Round(time.Millisecond), budget)
			require.Less(t, took, budget+time.Second)
			require.Contains(t, logs.String(), `msg="component stopped" component=loki.write/w`, "loki.write's Run returned")
			require.NotContains(t, logs.String(), "did not stop in time")
			require.False(t, a.acked("A"), "an unsent batch is not acknowledged")
		})
	}
}
