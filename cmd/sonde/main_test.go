package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCLI(t *testing.T) {
	t.Setenv("NODE_NAME", "node-1")
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:6443\"}}]\n"+
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"), 0o600))
	t.Setenv("KUBECONFIG", kubeconfig)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("components:\n  prometheus.scrape/x:\n    static_configs: [{targets: [\"127.0.0.1:1\"]}]\n    forward_to: [prometheus.serve/nope]\n"), 0o644))
	other := filepath.Join(dir, "other-kubeconfig")
	require.NoError(t, os.WriteFile(other, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://10.9.8.7:6443\"}}]\n"+
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"), 0o600))
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
		{"validate daemonset with static targets", []string{"validate", "--preset", "daemonset",
			"--static-targets", "argo-rollouts-metrics.argo-rollouts.svc:8090, ksm:8080"}, 0, "<preset daemonset> is valid"},
		{"config show daemonset", []string{"config", "show", "--preset", "daemonset", "--static-targets", "ksm:8080"}, 0,
			"discovery.static/cluster:\n    static_configs:\n      - targets: [ksm:8080]"},
		{"validate cluster-local", []string{"validate", "--preset", "cluster-local"}, 0, "<preset cluster-local> is valid"},
		{"config show cluster-local", []string{"config", "show", "--preset", "cluster-local"}, 0,
			"replacement: /api/v1/nodes/$1/proxy$2\n      - target_label: __address__\n        replacement: 127.0.0.1:6443"},
		{"validate sidecar", []string{"validate", "--preset", "sidecar", "--otlp-endpoint", "tempo:4317"}, 0, "<preset sidecar> is valid: 4 components"},
		{"sidecar needs an endpoint", []string{"validate", "--preset", "sidecar"}, 1, "give --otlp-endpoint"},
		{"bad loki url", []string{"validate", "--preset", "host", "--loki-url", "l:3100"}, 1, "loki URL \"l:3100\": want an absolute http(s) URL"},
		{"config show", []string{"config", "show", "--preset", "host"}, 0, "prometheus.exporter.unix/host"},
		{"config show with url", []string{"config", "show", "--preset", "daemonset", "--prometheus-url", "http://p:9090"}, 0, "url: http://p:9090/api/v1/write"},
		{"config show unknown preset", []string{"config", "show", "--preset", "nope"}, 1, "unknown preset"},
		{"run with bad config fails before binding", []string{"run", "--config", bad, "--server.listen", "127.0.0.1:0"}, 1, "invalid configuration"},
		{"run with bad url", []string{"run", "--prometheus-url", "localhost:9090", "--server.listen", "127.0.0.1:0"}, 1, "want an absolute http(s) URL"},
		{"run help shows --kubeconfig", []string{"run", "-h"}, 2, "-kubeconfig string\n    \tkubeconfig file to reach the API server with, as kubectl's --kubeconfig"},
		{"config show cluster-local with --kubeconfig", []string{"config", "show", "--preset", "cluster-local", "--kubeconfig", other}, 0,
			"replacement: /api/v1/nodes/$1/proxy$2\n      - target_label: __address__\n        replacement: 10.9.8.7:6443"},
		{"run with a missing kubeconfig fails before binding", []string{"run", "--kubeconfig", filepath.Join(dir, "missing"), "--server.listen", "127.0.0.1:0"}, 1,
			"--kubeconfig: stat " + filepath.Join(dir, "missing")},
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

// The daemonset preset needs NODE_NAME (its pod watches are restricted to the node): without
// it validation fails and says how to set it, instead of watching the whole cluster.
func TestCLIDaemonsetNeedsNodeName(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	var out, errOut bytes.Buffer
	code := run([]string{"validate", "--preset", "daemonset"}, &out, &errOut)
	require.Equal(t, 1, code, "stdout: %s\nstderr: %s", out.String(), errOut.String())
	require.Contains(t, errOut.String(), "set NODE_NAME to the node's name")
}
