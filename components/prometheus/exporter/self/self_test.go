package self

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestValidate(t *testing.T) {
	require.NoError(t, DefaultArguments().Validate())
	err := (&Arguments{}).Validate()
	var fe *pipeline.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "job", fe.Field)
}

func TestTarget(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		args Arguments
		want model.LabelSet
	}{
		{"defaults", *DefaultArguments(), model.LabelSet{"job": "sonde", "instance": model.LabelValue(host)}},
		{"configured", Arguments{Job: "agent", Instance: "node-a"}, model.LabelSet{"job": "agent", "instance": "node-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const id = "prometheus.exporter.self/test"
			h := pipelinetest.NewHost()
			opts := pipelinetest.Options(t, id, h)
			c, err := New(opts, &tc.args)
			require.NoError(t, err)
			h.Export(id, c)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()

			want := tc.want.Clone()
			want[model.AddressLabel] = model.LabelValue(opts.ServerAddr)
			want[model.MetricsPathLabel] = "/metrics"
			require.Eventually(t, func() bool { return len(h.Published(id)) == 1 }, defaultWait, pollEvery)
			require.Equal(t, pipeline.Targets{want}, h.Published(id))

			require.NoError(t, c.Update(&Arguments{Job: "renamed", Instance: "i"}))
			want[model.JobLabel], want[model.InstanceLabel] = "renamed", "i"
			require.Equal(t, pipeline.Targets{want}, h.Published(id))

			cancel()
			require.NoError(t, <-done)
		})
	}
}

func TestUpdateBeforeRunDoesNotPublish(t *testing.T) {
	const id = "prometheus.exporter.self/early"
	h := pipelinetest.NewHost()
	c, err := New(pipelinetest.Options(t, id, h), DefaultArguments())
	require.NoError(t, err)
	h.Export(id, c)
	require.NoError(t, c.Update(&Arguments{Job: "early"}))
	require.Empty(t, h.Published(id))
}

func TestLifecycle(t *testing.T) {
	pipelinetest.Lifecycle(t, Registration, DefaultArguments(), &Arguments{Job: "other", Instance: "x"})
}

const (
	defaultWait = 10 * time.Second
	pollEvery   = 5 * time.Millisecond
)
