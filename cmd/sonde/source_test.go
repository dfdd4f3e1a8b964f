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
