package deploytest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChartOTLPProtocol: otlp.protocol http/protobuf gives the gateway (the sidecar preset)
// and the DaemonSet exactly what `sonde config show --otlp-protocol http/protobuf` prints,
// otelcol.exporter.otlphttp to the base URL, and sets SONDE_OTLP_PROTOCOL; grpc, the
// default, keeps otelcol.exporter.otlp.
func TestChartOTLPProtocol(t *testing.T) {
	for _, c := range []struct {
		mode, preset, endpoint, protocol string
		want, wantEndpoint               string
	}{
		{"gateway", "sidecar", "otlp.example.com:4318", "http/protobuf", "otelcol.exporter.otlphttp/default", "http://otlp.example.com:4318"},
		{"gateway", "sidecar", "https://otlp.example.com/otlp", "http/protobuf", "otelcol.exporter.otlphttp/default", "https://otlp.example.com/otlp"},
		{"daemonset", "daemonset", "tempo.monitoring.svc:4318", "http/protobuf", "otelcol.exporter.otlphttp/default", "http://tempo.monitoring.svc:4318"},
		{"gateway", "sidecar", "tempo.monitoring.svc:4317", "grpc", "otelcol.exporter.otlp/default", "http://tempo.monitoring.svc:4317"},
	} {
		t.Run(c.mode+" "+c.protocol+" "+c.endpoint, func(t *testing.T) {
			want, err := sonde(t, "config", "show", "--preset", c.preset, "--otlp-endpoint", c.endpoint, "--otlp-protocol", c.protocol)
			require.NoError(t, err)
			rel := release{Name: "sonde", Namespace: "sonde", Set: []string{"mode=" + c.mode, "otlp.endpoint=" + c.endpoint, "otlp.protocol=" + c.protocol}}
			r := render(t, rel)
			got := r.config(t)
			if c.mode == "daemonset" {
				want = withShardSelector(want, "app.kubernetes.io/component=daemonset,app.kubernetes.io/instance=sonde,app.kubernetes.io/name=sonde")
			}
			require.Equal(t, want, got)
			require.Contains(t, got, c.want+":\n    client:\n      endpoint: \""+c.wantEndpoint+"\"")
			validateConfig(t, got)

			env := envByName(container(t, nested(t, r.workload(t).Object, "spec", "template").(map[string]any), "sonde"))
			require.Equal(t, c.protocol, env["SONDE_OTLP_PROTOCOL"]["value"])
			require.Equal(t, c.endpoint, env["SONDE_OTLP_ENDPOINT"]["value"])
		})
	}
}
