package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPresetsRenderOTLPHTTP: with OTLPProtocol http/protobuf every preset that forwards OTLP
// sends it with otelcol.exporter.otlphttp to the base URL (testdata/preset-NAME-otlphttp.yaml),
// in place of otelcol.exporter.otlp and nothing else changed; grpc, or no protocol, renders
// exactly the gRPC goldens of TestPresetsRender.
func TestPresetsRenderOTLPHTTP(t *testing.T) {
	for _, name := range []string{"sidecar", "host", "daemonset"} {
		t.Run(name, func(t *testing.T) {
			data := PresetData{OTLPEndpoint: "http://127.0.0.1:4318", OTLPProtocol: OTLPHTTPProtobuf,
				Kubeconfig: "/home/me/.kube/config", APIServer: "https://127.0.0.1:6443"}
			if name != "sidecar" {
				data.PrometheusURL = "http://127.0.0.1:9090/api/v1/write"
				data.LokiURL = "http://127.0.0.1:3100/loki/api/v1/push"
			}
			y, err := RenderPreset(name, data)
			require.NoError(t, err)
			golden := filepath.Join("testdata", "preset-"+name+"-otlphttp.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, y, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./config -update")
			require.Equal(t, string(want), string(y))
			require.Contains(t, string(y), "otelcol.exporter.otlphttp/default:\n    client:\n      endpoint: \"http://127.0.0.1:4318\"")
			require.NotContains(t, string(y), "otelcol.exporter.otlp/")

			// The same preset over gRPC is the golden file of TestPresetsRender, whether the
			// protocol is given or left empty; the two differ only in the exporter.
			grpcGolden := "preset-" + name + "-remote-write.yaml"
			if name == "sidecar" {
				data.LokiURL = "http://127.0.0.1:3100/loki/api/v1/push"
				grpcGolden = "preset-sidecar-local.yaml"
			}
			wantGRPC, err := os.ReadFile(filepath.Join("testdata", grpcGolden))
			require.NoError(t, err)
			data.OTLPEndpoint = "http://127.0.0.1:4317"
			for _, protocol := range []string{"", OTLPGRPC} {
				data.OTLPProtocol = protocol
				g, err := RenderPreset(name, data)
				require.NoError(t, err)
				require.Equal(t, string(wantGRPC), string(g), "protocol %q", protocol)
			}
			require.Equal(t, string(wantGRPC), strings.NewReplacer(
				"otelcol.exporter.otlphttp/default", "otelcol.exporter.otlp/default",
				"http://127.0.0.1:4318", "http://127.0.0.1:4317",
				"→ OTLP/HTTP out", "→ OTLP out",
			).Replace(string(y)))
		})
	}

	_, err := RenderPreset("sidecar", PresetData{OTLPEndpoint: "http://tempo:4318", OTLPProtocol: "http/json"})
	require.ErrorContains(t, err, `preset sidecar: OTLP protocol "http/json": want grpc or http/protobuf`)
}

// TestOTLPEndpointFor: the endpoint as the OpenTelemetry SDKs read it for each protocol.
func TestOTLPEndpointFor(t *testing.T) {
	for _, c := range []struct{ protocol, in, want string }{
		{OTLPHTTPProtobuf, "tempo:4318", "http://tempo:4318"},
		{OTLPHTTPProtobuf, "http://tempo:4318", "http://tempo:4318"},
		{OTLPHTTPProtobuf, "https://otlp.example.com", "https://otlp.example.com"},
		{OTLPHTTPProtobuf, "https://otlp.example.com/otlp/", "https://otlp.example.com/otlp/"},
		{OTLPHTTPProtobuf, "", ""},
		{OTLPGRPC, "tempo:4317", "http://tempo:4317"},
		{OTLPGRPC, "https://tempo:443", "https://tempo:443"},
		{"", "tempo:4317", "http://tempo:4317"},
	} {
		got, err := OTLPEndpointFor(c.protocol, c.in)
		require.NoError(t, err, "%s %s", c.protocol, c.in)
		require.Equal(t, c.want, got, "%s %s", c.protocol, c.in)
	}
	_, err := OTLPEndpointFor(OTLPHTTPProtobuf, "grpc://tempo:4317")
	require.ErrorContains(t, err, `OTLP/HTTP endpoint "grpc://tempo:4317"`)
	_, err = OTLPEndpointFor(OTLPHTTPProtobuf, "http://")
	require.Error(t, err)
	require.NoError(t, CheckOTLPProtocol("grpc"))
	require.NoError(t, CheckOTLPProtocol("http/protobuf"))
	require.ErrorContains(t, CheckOTLPProtocol("HTTP"), `OTLP protocol "HTTP": want grpc or http/protobuf`)
}
