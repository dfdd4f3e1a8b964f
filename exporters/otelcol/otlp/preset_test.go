package otlp_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	lokiexporter "github.com/sondehq/sonde/components/otelcol/exporter/loki"
	promexporter "github.com/sondehq/sonde/components/otelcol/exporter/prometheus"
	"github.com/sondehq/sonde/components/otelcol/processor/batch"
	"github.com/sondehq/sonde/components/otelcol/processor/k8sattributes"
	"github.com/sondehq/sonde/components/otelcol/processor/memorylimiter"
	"github.com/sondehq/sonde/components/otelcol/receiver/otlp"
	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/discovery/kubernetes"
	"github.com/sondehq/sonde/exporters/backendtest"
	lokiwrite "github.com/sondehq/sonde/exporters/loki/write"
	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	otlpexporter "github.com/sondehq/sonde/exporters/otelcol/otlp"
	"github.com/sondehq/sonde/exporters/otelcol/otlphttp"
	"github.com/sondehq/sonde/exporters/prometheus/remotewrite"
	"github.com/sondehq/sonde/pipeline"
)

func registry(t *testing.T) *pipeline.Registry {
	t.Helper()
	reg, err := pipeline.NewRegistry(
		otlp.Registration, memorylimiter.Registration, batch.Registration, k8sattributes.Registration,
		otlpexporter.Registration, otlphttp.Registration, promexporter.Registration, lokiexporter.Registration,
		kubernetes.Registration, remotewrite.Registration, lokiwrite.Registration,
	)
	require.NoError(t, err)
	return reg
}

func parse(t *testing.T, file string, env map[string]string) *config.File {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	f, err := config.Parse(file, data, registry(t), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	require.NoError(t, err)
	return f
}

// TestPresetBlocksParse: the preset blocks proposed for config/presets decode strictly and
// form a valid graph.
func TestPresetBlocksParse(t *testing.T) {
	for _, file := range []string{"sidecar.yaml", "daemonset-otlp.yaml"} {
		t.Run(file, func(t *testing.T) {
			parse(t, file, map[string]string{"SONDE_OTLP_ENDPOINT": "http://tempo:4317"})
		})
	}
}

// TestSidecarUnderController runs the sidecar configuration under the real controller:
// spans reach the backend, a reload that changes the batch settings keeps them flowing, and
// everything stops cleanly.
func TestSidecarUnderController(t *testing.T) {
	backend := oteltest.NewGRPCServer(t)
	grpcAddr := backendtest.FreeAddr(t)
	env := map[string]string{
		"SONDE_OTLP_ENDPOINT":    "http://" + backend.Endpoint(),
		"SONDE_OTLP_GRPC_LISTEN": grpcAddr,
		"SONDE_OTLP_HTTP_LISTEN": backendtest.FreeAddr(t),
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "sidecar.yaml"))
	require.NoError(t, err)
	g := oteltest.StartGraph(t, registry(t), string(raw), oteltest.GraphOptions{Env: env})
	c := g.Controller
	backendtest.WaitListening(t, grpcAddr)

	conn := oteltest.Dial(t, grpcAddr)
	client := ptraceotlp.NewGRPCClient(conn)
	send := func(id uint64) {
		// Components start one after the other: retry as an OTLP client would.
		require.Eventually(t, func() bool {
			_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oteltest.Traces(id, 3, nil)))
			return err == nil
		}, 30*time.Second, 20*time.Millisecond)
	}
	send(1)
	require.Eventually(t, func() bool { return backend.Spans() == 3 }, 30*time.Second, 10*time.Millisecond)

	// A reload that changes the batch processor: it is updated in place, the rest keeps running.
	f2 := parse(t, "sidecar.yaml", env)
	for i := range f2.Specs {
		if f2.Specs[i].Type == "otelcol.processor.batch" {
			f2.Specs[i].Args.(*batch.Arguments).SendBatchSize = 100
			f2.Specs[i].Fingerprint += " changed"
		}
	}
	require.NoError(t, c.Apply(f2.Specs))
	send(2)
	require.Eventually(t, func() bool { return backend.Spans() == 6 }, 30*time.Second, 10*time.Millisecond)
	for _, ci := range c.Components() {
		require.Equal(t, pipeline.HealthHealthy, ci.Health.State, ci.ID)
	}
}
