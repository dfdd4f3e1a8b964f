// Package deploytest checks what deploy/ ships: the Helm chart (lint, rendering, the config
// it renders validated by sonde itself), the plain manifests generated from it, the
// dashboards, and that everything is accepted by a real kube-apiserver.
//
// helm comes from `make deps` (deploy/deploytest/install-helm.sh puts it in
// $SONDE_CACHE/bin/helm-v3.22.0; $SONDE_HELM overrides). A missing helm fails the tests with
// "run make deps"; they never skip.
package deploytest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// helmVersion is the helm release the tests and `make manifests` use.
const helmVersion = "v3.22.0"

// chartDir is the chart, relative to the repository root.
const chartDir = "deploy/helm/sonde"

// repoRoot is the repository root.
func repoRoot(t testing.TB) string {
	t.Helper()
	return backendtest.RepoFile(t, "")
}

// helmBin returns the helm binary, or fails the test with how to get it.
func helmBin(t testing.TB) string {
	t.Helper()
	backendtest.SkipShort(t, "helm")
	return backendtest.Binary(t, "helm", "SONDE_HELM", "helm", helmVersion, "make deps (deploy/deploytest/install-helm.sh)")
}

// helm runs helm in the repository root and returns its standard output; an error carries
// its standard error.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = repoRoot(t)
	// No user configuration, repositories or plugins leak into the tests.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// release is a rendering of the chart.
type release struct {
	Name, Namespace string
	// ValuesFile is a values file relative to deploy/deploytest ("" for the chart's defaults).
	ValuesFile string
	// Set holds extra --set-string flags (KEY=VALUE).
	Set []string
}

func (r release) helmArgs(t testing.TB, verb string) []string {
	t.Helper()
	args := []string{verb}
	if verb == "template" {
		args = append(args, r.Name)
	}
	args = append(args, chartDir)
	if verb == "template" {
		args = append(args, "--namespace", r.Namespace)
	}
	if r.ValuesFile != "" {
		p, err := filepath.Abs(r.ValuesFile)
		require.NoError(t, err)
		args = append(args, "--values", p)
	}
	for _, s := range r.Set {
		args = append(args, "--set-string", s)
	}
	return args
}

// template renders the release with helm template.
func (r release) template(t testing.TB) (string, error) {
	t.Helper()
	return helm(t, r.helmArgs(t, "template")...)
}

// lint runs helm lint --strict with the release's values.
func (r release) lint(t testing.TB) (string, error) {
	t.Helper()
	return helm(t, append(r.helmArgs(t, "lint"), "--strict", "--namespace", r.Namespace)...)
}

// rendered holds the objects of a rendering.
type rendered struct {
	Text    string
	Objects []*unstructured.Unstructured
}

func render(t testing.TB, r release) rendered {
	t.Helper()
	out, err := r.template(t)
	require.NoError(t, err)
	return rendered{Text: out, Objects: decodeObjects(t, []byte(out))}
}

// decodeObjects decodes a multi-document YAML stream, skipping empty documents. Numbers
// decode as int64 or float64, as in objects from an API server.
func decodeObjects(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		js, err := utilyaml.ToJSON(doc)
		require.NoError(t, err)
		if string(js) == "null" {
			continue // comments only
		}
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(js), "%s", doc)
		out = append(out, u)
	}
}

// readTestdata returns the string at path in the YAML file testdata/name.
func readTestdata(t testing.TB, name string, path ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var v any
	require.NoError(t, yaml.Unmarshal(data, &v))
	for _, p := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s: %s is not a map", name, p)
		v = m[p]
	}
	s, ok := v.(string)
	require.True(t, ok, "%s: %v is not a string", name, path)
	return s
}

// get returns the only object of kind (and name, if not empty), or fails.
func (r rendered) get(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	objs := r.all(kind, name)
	require.Len(t, objs, 1, "%s %q in the rendering", kind, name)
	return objs[0]
}

func (r rendered) all(kind, name string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.Objects {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) kinds() []string {
	var out []string
	for _, o := range r.Objects {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// config returns the sonde configuration file of the rendering.
func (r rendered) config(t testing.TB) string {
	t.Helper()
	cm := r.get(t, "ConfigMap", r.workload(t).GetName())
	cfg, ok, err := unstructured.NestedString(cm.Object, "data", "config.yaml")
	require.NoError(t, err)
	require.True(t, ok, "ConfigMap %s has no config.yaml", cm.GetName())
	return cfg
}

// workload returns the DaemonSet or the Deployment.
func (r rendered) workload(t testing.TB) *unstructured.Unstructured {
	t.Helper()
	objs := append(r.all("DaemonSet", ""), r.all("Deployment", "")...)
	require.Len(t, objs, 1, "one DaemonSet or Deployment: %v", r.kinds())
	return objs[0]
}

// nested returns the value at path, failing when it is missing.
func nested(t testing.TB, o map[string]any, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o, path...)
	require.NoError(t, err)
	require.True(t, ok, "%s is missing", strings.Join(path, "."))
	return v
}

// sonde runs the sonde binary and returns its standard output.
func sonde(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(backendtest.SondeBinary(t), args...)
	// Backends come from the arguments only, never from the environment of the test.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SONDE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// What the downward API gives the container in the chart (the daemonset preset
	// requires NODE_NAME).
	cmd.Env = append(cmd.Env, "NODE_NAME=node-1", "NODE_IP=10.0.0.1", "POD_NAME=sonde-x1y2z", "POD_NAMESPACE=sonde",
		// What the chart's secretKeyRef variables give it where credentials are configured.
		"SONDE_PROMETHEUS_USERNAME=u", "SONDE_PROMETHEUS_PASSWORD=p", "SONDE_PROMETHEUS_BEARER_TOKEN=t",
		"SONDE_LOKI_USERNAME=u", "SONDE_LOKI_PASSWORD=p", "SONDE_LOKI_BEARER_TOKEN=t")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("sonde %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// validateConfig runs `sonde validate --config` on cfg.
func validateConfig(t testing.TB, cfg string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	_, err := sonde(t, "validate", "--config", path)
	require.NoError(t, err, "the rendered configuration:\n%s", cfg)
}
