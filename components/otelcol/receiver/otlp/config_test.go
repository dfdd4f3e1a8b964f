package otlp

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/config"
	exporter "github.com/sondehq/sonde/exporters/otelcol/otlp"
	"github.com/sondehq/sonde/pipeline"
)

// parseConfig loads components (indented under "components:", sending traces to
// otelcol.exporter.otlp/tempo) through the real loader, with sonde's own server on
// serverListen.
func parseConfig(t *testing.T, components, serverListen string) error {
	t.Helper()
	reg, err := pipeline.NewRegistry(Registration, exporter.Registration)
	require.NoError(t, err)
	doc := "components:\n  otelcol.exporter.otlp/tempo: {client: {endpoint: \"tempo:4317\"}}\n" + components
	_, err = config.ParseWith("c.yaml", []byte(doc), reg, config.Options{
		Lookup:   func(string) (string, bool) { return "", false },
		Reserved: []pipeline.ListenAddr{{Field: "--server.listen", Addr: serverListen}},
	})
	return err
}

func TestListenAddrsChecked(t *testing.T) {
	receiver := func(name, body string) string {
		return "  otelcol.receiver.otlp/" + name + ":\n" + body + "    output: {traces: [otelcol.exporter.otlp/tempo]}\n"
	}
	cases := []struct {
		name, components, want string
	}{
		{"grpc of two receivers",
			receiver("a", "    grpc: {endpoint: \"0.0.0.0:4317\"}\n") + receiver("b", "    grpc: {endpoint: \"10.0.0.1:4317\"}\n"),
			"c.yaml:7: otelcol.receiver.otlp/b: grpc.endpoint: 10.0.0.1:4317 overlaps otelcol.receiver.otlp/a grpc.endpoint (0.0.0.0:4317, c.yaml:4): both listen on port 4317"},
		{"grpc of one, http of the other",
			receiver("a", "    grpc: {}\n") + receiver("b", "    http: {endpoint: \"127.0.0.1:4317\"}\n"),
			"c.yaml:7: otelcol.receiver.otlp/b: http.endpoint: 127.0.0.1:4317 overlaps otelcol.receiver.otlp/a grpc.endpoint (127.0.0.1:4317, c.yaml:4)"},
		{"grpc and http of one receiver",
			receiver("a", "    grpc: {endpoint: \"[::]:4317\"}\n    http: {endpoint: \"127.0.0.1:4317\"}\n"),
			"c.yaml:5: otelcol.receiver.otlp/a: http.endpoint: 127.0.0.1:4317 overlaps grpc.endpoint ([::]:4317) of the same component"},
		{"sonde's own server",
			receiver("a", "    http:\n      endpoint: \"0.0.0.0:12345\"\n"),
			"c.yaml:5: otelcol.receiver.otlp/a: http.endpoint: 0.0.0.0:12345 overlaps sonde's own --server.listen (127.0.0.1:12345)"},
		{"different ports", receiver("a", "    grpc: {}\n    http: {}\n") + receiver("b", "    grpc: {endpoint: \"127.0.0.1:14317\"}\n"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := parseConfig(t, tc.components, "127.0.0.1:12345")
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A wrong type inside a block with its own defaults (grpc, http) names the field.
func TestTypeErrorNamesField(t *testing.T) {
	err := parseConfig(t, "  otelcol.receiver.otlp/a:\n    grpc:\n      max_concurrent_streams: lots\n    output: {traces: [otelcol.exporter.otlp/tempo]}\n", "127.0.0.1:12345")
	require.ErrorContains(t, err, `c.yaml:5: otelcol.receiver.otlp/a: grpc.max_concurrent_streams: cannot use "lots" (string) as 32-bit unsigned integer`)
}
