package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOTLPProtocol: --otlp-protocol, else SONDE_OTLP_PROTOCOL, else the SDKs'
// OTEL_EXPORTER_OTLP_PROTOCOL, chooses otelcol.exporter.otlp (grpc, the default) or
// otelcol.exporter.otlphttp (http/protobuf, the endpoint a base URL, http:// when bare) in
// the presets that forward OTLP; a value that is neither is an error naming its source.
func TestOTLPProtocol(t *testing.T) {
	const (
		grpcID = "otelcol.exporter.otlp/default"
		httpID = "otelcol.exporter.otlphttp/default"
	)
	for _, c := range []struct {
		name          string
		args          []string
		sondeEnv, env string // SONDE_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL
		want          string // the exporter's id, or the error
		endpoint      string // its endpoint
	}{
		{name: "default grpc", want: grpcID, endpoint: "endpoint: http://tempo:4317"},
		{name: "flag grpc", args: []string{"--otlp-protocol", "grpc"}, want: grpcID, endpoint: "endpoint: http://tempo:4317"},
		{name: "flag http/protobuf", args: []string{"--otlp-protocol", "http/protobuf"}, want: httpID, endpoint: "endpoint: http://tempo:4317"},
		{name: "SONDE_OTLP_PROTOCOL", sondeEnv: "http/protobuf", want: httpID, endpoint: "endpoint: http://tempo:4317"},
		{name: "OTEL_EXPORTER_OTLP_PROTOCOL", env: "http/protobuf", want: httpID, endpoint: "endpoint: http://tempo:4317"},
		{name: "flag over the environment", args: []string{"--otlp-protocol", "grpc"}, sondeEnv: "http/protobuf", env: "http/protobuf", want: grpcID},
		{name: "SONDE_ over OTEL_", sondeEnv: "grpc", env: "http/protobuf", want: grpcID},
		{name: "bad flag", args: []string{"--otlp-protocol", "http"}, env: "grpc", want: `--otlp-protocol: OTLP protocol "http": want grpc or http/protobuf`},
		{name: "bad SONDE_ env", sondeEnv: "GRPC", want: `SONDE_OTLP_PROTOCOL: OTLP protocol "GRPC"`},
		{name: "bad OTEL_ env", env: "http/json", want: `OTEL_EXPORTER_OTLP_PROTOCOL: OTLP protocol "http/json"`},
	} {
		for _, preset := range []string{"sidecar", "host"} {
			t.Run(c.name+"/"+preset, func(t *testing.T) {
				t.Setenv("SONDE_OTLP_PROTOCOL", c.sondeEnv)
				t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", c.env)
				_, specs, err := loadSource(t, append([]string{"--preset", preset, "--otlp-endpoint", "tempo:4317"}, c.args...)...)
				if c.want != grpcID && c.want != httpID {
					require.ErrorContains(t, err, c.want)
					return
				}
				require.NoError(t, err)
				require.Contains(t, specs, c.want)
				require.NotContains(t, specs, map[string]string{grpcID: httpID, httpID: grpcID}[c.want])
				require.Contains(t, specs[c.want], c.endpoint)
			})
		}
	}

	// The endpoint is read as the protocol reads it: a base URL keeps its path for
	// otlphttp, which appends /v1/traces; gRPC has no path.
	t.Setenv("SONDE_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	_, specs, err := loadSource(t, "--preset", "sidecar", "--otlp-endpoint", "https://otlp.example.com/otlp")
	require.NoError(t, err)
	require.Contains(t, specs[httpID], "endpoint: https://otlp.example.com/otlp\n")
	_, _, err = loadSource(t, "--preset", "sidecar", "--otlp-endpoint", "ftp://otlp.example.com")
	require.ErrorContains(t, err, `OTLP/HTTP endpoint "ftp://otlp.example.com"`)
}
