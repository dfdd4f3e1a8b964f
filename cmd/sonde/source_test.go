package main

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// writeKubeconfig writes a kubeconfig whose current context points at server.
func writeKubeconfig(t *testing.T, path, server string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \""+server+"\"}}]\n"+
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"), 0o600))
	return path
}

// loadSource parses args as `sonde run` does and loads the configuration they select; it
// returns the log of the choice and each component's arguments as YAML, by id.
func loadSource(t *testing.T, args ...string) (string, map[string]string, error) {
	t.Helper()
	fs := flag.NewFlagSet("sonde run", flag.ContinueOnError)
	var src sourceFlags
	src.register(fs)
	require.NoError(t, fs.Parse(args))
	reg, err := registry()
	require.NoError(t, err)
	var logs bytes.Buffer
	load, err := src.loader(reg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		return logs.String(), nil, err
	}
	_, specs, err := load()
	if err != nil {
		return logs.String(), nil, err
	}
	out := map[string]string{}
	for _, s := range specs {
		y, err := yaml.Marshal(s.Args)
		require.NoError(t, err)
		out[s.ID] = string(y)
	}
	return logs.String(), out, nil
}

// TestKubeconfigFlag: `sonde run --kubeconfig FILE` outside a cluster selects the
// cluster-local preset with that file, ahead of SONDE_KUBECONFIG, KUBECONFIG and
// ~/.kube/config, as kubectl's flag does; the daemonset preset and configuration files
// reading ${SONDE_KUBECONFIG} get it too.
func TestKubeconfigFlag(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod, whatever runs the test
	t.Setenv("NODE_NAME", "node-1")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("SONDE_KUBECONFIG", "")
	dir := t.TempDir()
	flagKC := writeKubeconfig(t, filepath.Join(dir, "flag"), "https://10.0.0.1:6443")
	sondeEnvKC := writeKubeconfig(t, filepath.Join(dir, "sonde-env"), "https://10.0.0.2:6443")
	envKC := writeKubeconfig(t, filepath.Join(dir, "env"), "https://10.0.0.3:6443")
	const nodes = "discovery.kubernetes/nodes" // cluster-local's node discovery

	t.Run("no kubeconfig anywhere: host", func(t *testing.T) {
		logs, specs, err := loadSource(t)
		require.NoError(t, err)
		require.Contains(t, logs, "preset=host")
		require.NotContains(t, specs, nodes)
	})

	t.Run("flag selects cluster-local", func(t *testing.T) {
		logs, specs, err := loadSource(t, "--kubeconfig", flagKC)
		require.NoError(t, err)
		require.Contains(t, logs, "preset=cluster-local")
		require.Contains(t, specs[nodes], "kubeconfig_file: "+flagKC)
		require.Contains(t, specs["discovery.relabel/kubelet_cadvisor"], "10.0.0.1:6443", "kubelet through this API server's node proxy")
	})

	precedence := []struct {
		name       string
		flag       string
		sondeEnv   string
		kubeconfig string
		home       bool
		want       string
	}{
		{name: "flag over the environment", flag: flagKC, sondeEnv: sondeEnvKC, kubeconfig: envKC, home: true, want: flagKC},
		{name: "SONDE_KUBECONFIG over KUBECONFIG", sondeEnv: sondeEnvKC, kubeconfig: envKC, home: true, want: sondeEnvKC},
		{name: "KUBECONFIG over ~/.kube/config", kubeconfig: envKC + string(filepath.ListSeparator) + "/other", home: true, want: envKC},
		{name: "~/.kube/config last", home: true, want: filepath.Join(home, ".kube", "config")},
	}
	for _, tc := range precedence {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SONDE_KUBECONFIG", tc.sondeEnv)
			t.Setenv("KUBECONFIG", tc.kubeconfig)
			if tc.home {
				writeKubeconfig(t, filepath.Join(home, ".kube", "config"), "https://10.0.0.4:6443")
				defer os.RemoveAll(filepath.Join(home, ".kube"))
			}
			var args []string
			if tc.flag != "" {
				args = []string{"--kubeconfig", tc.flag}
			}
			logs, specs, err := loadSource(t, args...)
			require.NoError(t, err)
			require.Contains(t, logs, "preset=cluster-local")
			require.Contains(t, specs[nodes], "kubeconfig_file: "+tc.want)
		})
	}

	t.Run("daemonset preset", func(t *testing.T) {
		t.Setenv("SONDE_KUBECONFIG", sondeEnvKC)
		_, specs, err := loadSource(t, "--preset", "daemonset", "--kubeconfig", flagKC)
		require.NoError(t, err)
		for _, id := range []string{"discovery.kubernetes/node", "discovery.kubernetes/pods"} {
			require.Contains(t, specs[id], "kubeconfig_file: "+flagKC, id)
		}
	})

	t.Run("configuration file reading SONDE_KUBECONFIG", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "sonde.yaml")
		require.NoError(t, os.WriteFile(file, []byte("components:\n  discovery.kubernetes/pods:\n    role: pod\n    kubeconfig_file: ${SONDE_KUBECONFIG:-}\n"), 0o600))
		_, specs, err := loadSource(t, "--config", file, "--kubeconfig", flagKC)
		require.NoError(t, err)
		require.Contains(t, specs["discovery.kubernetes/pods"], "kubeconfig_file: "+flagKC)
	})

	t.Run("~ is the home directory", func(t *testing.T) {
		writeKubeconfig(t, filepath.Join(home, "kind.kubeconfig"), "https://10.0.0.5:6443")
		_, specs, err := loadSource(t, "--kubeconfig", "~/kind.kubeconfig")
		require.NoError(t, err)
		require.Contains(t, specs[nodes], "kubeconfig_file: "+filepath.Join(home, "kind.kubeconfig"))
	})

	t.Run("a missing file is an error, not another cluster", func(t *testing.T) {
		t.Setenv("KUBECONFIG", envKC)
		_, _, err := loadSource(t, "--kubeconfig", filepath.Join(dir, "missing"))
		require.ErrorContains(t, err, "--kubeconfig: stat "+filepath.Join(dir, "missing"))
	})
}

// A component listening where another one, or sonde's own HTTP server, already listens would
// fail only after the reload: `validate` and `run` reject the configuration instead, naming
// file:line of both addresses.
func TestListenConflicts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, otlpEndpoints string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte("components:\n"+
			"  otelcol.exporter.otlp/tempo:\n    client: {endpoint: \"tempo:4317\"}\n"+
			otlpEndpoints), 0o600))
		return path
	}
	receiver := func(name, grpc, http string) string {
		return "  otelcol.receiver.otlp/" + name + ":\n" +
			"    grpc: {endpoint: \"" + grpc + "\"}\n" +
			"    http: {endpoint: \"" + http + "\"}\n" +
			"    output: {traces: [otelcol.exporter.otlp/tempo]}\n"
	}
	server := write("server.yaml", receiver("a", "127.0.0.1:4317", "0.0.0.0:12345"))
	twice := write("twice.yaml", receiver("a", "0.0.0.0:4317", "127.0.0.1:4318")+receiver("b", "127.0.0.1:14317", "[::]:4318"))
	fine := write("fine.yaml", receiver("a", "127.0.0.1:4317", "127.0.0.1:4318"))

	cases := []struct {
		name string
		env  string // SONDE_SERVER_LISTEN
		args []string
		code int
		want string
	}{
		{"validate: the default --server.listen", "", []string{"validate", "--config", server}, 1,
			server + ":6: otelcol.receiver.otlp/a: http.endpoint: 0.0.0.0:12345 overlaps sonde's own --server.listen (127.0.0.1:12345): both listen on port 12345"},
		{"validate: --server.listen", "", []string{"validate", "--config", fine, "--server.listen", "0.0.0.0:4318"}, 1,
			fine + ":6: otelcol.receiver.otlp/a: http.endpoint: 127.0.0.1:4318 overlaps sonde's own --server.listen (0.0.0.0:4318)"},
		{"validate: SONDE_SERVER_LISTEN", ":4317", []string{"validate", "--config", fine}, 1,
			fine + ":5: otelcol.receiver.otlp/a: grpc.endpoint: 127.0.0.1:4317 overlaps sonde's own --server.listen (:4317)"},
		{"validate: two components", "", []string{"validate", "--config", twice}, 1,
			twice + ":10: otelcol.receiver.otlp/b: http.endpoint: [::]:4318 overlaps otelcol.receiver.otlp/a http.endpoint (127.0.0.1:4318, " + twice + ":6)"},
		{"validate: no conflict", "", []string{"validate", "--config", fine}, 0, "is valid: 2 components"},
		{"run fails before binding", "", []string{"run", "--config", fine, "--server.listen", "127.0.0.1:4317"}, 1,
			"invalid configuration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SONDE_SERVER_LISTEN", tc.env)
			var out, errOut bytes.Buffer
			code := run(tc.args, &out, &errOut)
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out.String(), errOut.String())
			require.Contains(t, out.String()+errOut.String(), tc.want)
		})
	}

	// A reload (SIGHUP, file change) loads through the same loader: the running graph stays.
	fs := flag.NewFlagSet("sonde run", flag.ContinueOnError)
	var src sourceFlags
	src.register(fs)
	src.registerServerListen(fs)
	require.NoError(t, fs.Parse([]string{"--config", fine, "--server.listen", "127.0.0.1:4318"}))
	reg, err := registry()
	require.NoError(t, err)
	load, err := src.loader(reg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, _, err = load()
	require.ErrorContains(t, err, "http.endpoint: 127.0.0.1:4318 overlaps sonde's own --server.listen")
}
