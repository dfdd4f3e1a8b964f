package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("components:\n  prometheus.scrape/x:\n    static_configs: [{targets: [\"127.0.0.1:1\"]}]\n    forward_to: [prometheus.serve/nope]\n"), 0o644))
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("components:\n  prometheus.exporter.self/s: {}\n"), 0o644))

	cases := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no args", nil, 2, "Usage:"},
		{"version", []string{"version"}, 0, "sonde "},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"validate good", []string{"validate", "--config", good}, 0, "is valid: 1 components"},
		{"validate bad", []string{"validate", "--config", bad}, 1, bad + ":4: prometheus.scrape/x: forward_to[0]: no component"},
		{"validate needs a file", []string{"validate"}, 2, "give --config"},
		{"validate preset", []string{"validate", "--preset", "host"}, 0, "<preset host> is valid"},
		{"validate preset with backends", []string{"validate", "--preset", "daemonset", "--prometheus-url", "http://p:9090",
			"--loki-url", "http://l:3100"}, 0, "<preset daemonset> is valid"},
		{"bad loki url", []string{"validate", "--preset", "host", "--loki-url", "l:3100"}, 1, "loki URL \"l:3100\": want an absolute http(s) URL"},
		{"config show", []string{"config", "show", "--preset", "host"}, 0, "prometheus.exporter.unix/host"},
		{"config show with url", []string{"config", "show", "--preset", "daemonset", "--prometheus-url", "http://p:9090"}, 0, "url: http://p:9090/api/v1/write"},
		{"config show unknown preset", []string{"config", "show", "--preset", "nope"}, 1, "unknown preset"},
		{"run with bad config fails before binding", []string{"run", "--config", bad, "--server.listen", "127.0.0.1:0"}, 1, "invalid configuration"},
		{"run with bad url", []string{"run", "--prometheus-url", "localhost:9090", "--server.listen", "127.0.0.1:0"}, 1, "want an absolute http(s) URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.args, &out, &errOut)
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out.String(), errOut.String())
			require.Contains(t, out.String()+errOut.String(), tc.contains)
		})
	}
}
