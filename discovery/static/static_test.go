package static

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestPublishAndUpdate(t *testing.T) {
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(t, "discovery.static/x", host)
	c, err := New(opts, &Arguments{StaticConfigs: []StaticConfig{{Targets: []string{"a:1", "b:2"}, Labels: map[string]string{"job": "j"}}}})
	require.NoError(t, err)
	host.Export(opts.ID, c)
	view := host.Targets([]string{opts.ID})
	defer view.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-view.Changed()
	require.Equal(t, pipeline.Targets{{"__address__": "a:1", "job": "j"}, {"__address__": "b:2", "job": "j"}}, host.Published(opts.ID))

	require.NoError(t, c.Update(&Arguments{StaticConfigs: []StaticConfig{{Targets: []string{"c:3"}}}}))
	require.Equal(t, pipeline.Targets{{model.AddressLabel: "c:3"}}, host.Published(opts.ID))
	require.Error(t, Registration.Update(c, &Arguments{}), "invalid arguments are refused")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		args Arguments
		ok   bool
	}{
		{name: "ok", args: Arguments{StaticConfigs: []StaticConfig{{Targets: []string{"a:1"}}}}, ok: true},
		{name: "none", args: Arguments{}},
		{name: "no targets", args: Arguments{StaticConfigs: []StaticConfig{{}}}},
		{name: "url", args: Arguments{StaticConfigs: []StaticConfig{{Targets: []string{"http://a:1/metrics"}}}}},
		{name: "bad label", args: Arguments{StaticConfigs: []StaticConfig{{Targets: []string{"a:1"}, Labels: map[string]string{"": "x"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.ok, tt.args.Validate() == nil)
		})
	}
}

func TestLifecycle(t *testing.T) {
	pipelinetest.Lifecycle(t, Registration,
		&Arguments{StaticConfigs: []StaticConfig{{Targets: []string{"a:1"}}}},
		&Arguments{StaticConfigs: []StaticConfig{{Targets: []string{"b:1"}}}})
}
