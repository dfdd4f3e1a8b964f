//go:build tofu

package terraform_test

// TestTofu runs the module through OpenTofu and the real helm provider against a real
// kube-apiserver: init from a filesystem provider mirror, validate, fmt, plan, apply, a
// second plan that must find nothing to change, destroy. It is not part of make test: the
// helm provider is not served by the Go module proxy the project builds with, so it has to
// be built from its source by hand (see README.md). Run it with
//
//	SONDE_TOFU=/path/to/tofu SONDE_TOFU_PLUGIN_DIR=/path/to/mirror \
//	  go test -tags tofu -run TestTofu ./deploy/terraform
//
// where the mirror holds registry.opentofu.org/hashicorp/helm/VERSION/linux_amd64/
// terraform-provider-helm_vVERSION (SONDE_HELM_PROVIDER_VERSION, default 3.1.2).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/discovery/kubetest"
)

func tofuEnv(t *testing.T, name, def string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	require.NotEmpty(t, v, "set %s (see the comment on TestTofu)", name)
	return v
}

func TestTofu(t *testing.T) {
	bin := tofuEnv(t, "SONDE_TOFU", "")
	plugins := tofuEnv(t, "SONDE_TOFU_PLUGIN_DIR", "")
	version := tofuEnv(t, "SONDE_HELM_PROVIDER_VERSION", "3.1.2")
	_, err := os.Stat(filepath.Join(plugins, "registry.opentofu.org/hashicorp/helm", version))
	require.NoError(t, err, "helm provider %s in the mirror", version)

	tofu := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_CLI_CONFIG_FILE=/dev/null", "TF_DATA_DIR="+filepath.Join(dir, ".tofu"))
		out, err := cmd.CombinedOutput()
		t.Logf("$ tofu %s\n%s", strings.Join(args, " "), out)
		require.NoError(t, err, "tofu %s", strings.Join(args, " "))
		return string(out)
	}

	modDir, err := filepath.Abs(".")
	require.NoError(t, err)
	// A local path (./ or ../) is used in place; an absolute one would be copied into
	// .terraform/modules, without the chart next to it.
	rel := func(from string) string {
		r, err := filepath.Rel(from, modDir)
		require.NoError(t, err)
		return r
	}

	s := kubetest.Start(t)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {token: %q}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, s.URL, s.CAFile, kubetest.AdminToken)), 0o600))
	ctx := context.Background()
	// testdata/daemonset.tfvars installs into an existing namespace.
	_, err = s.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "telemetry"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	// 2.x configures the cluster in a block, 3.x in an attribute.
	kube := fmt.Sprintf("kubernetes = { config_path = %q }", kubeconfig)
	if strings.HasPrefix(version, "2.") {
		kube = fmt.Sprintf("kubernetes {\n    config_path = %q\n  }", kubeconfig)
	}
	provider := fmt.Sprintf(`terraform {
  required_providers {
    helm = { source = "hashicorp/helm", version = %q }
  }
}
provider "helm" {
  %s
}
`, version, kube)

	// The example as users copy it (it is written for 3.x): init, validate, plan.
	if strings.HasPrefix(version, "3.") {
		ex, err := os.ReadFile("examples/basic/main.tf")
		require.NoError(t, err)
		exDir := filepath.Join(dir, "example")
		require.NoError(t, os.MkdirAll(exDir, 0o755))
		src := strings.Replace(string(ex), `source = "../.."`, fmt.Sprintf("source = %q", rel(exDir)), 1)
		src = strings.Replace(src, `"~/.kube/config"`, fmt.Sprintf("%q", kubeconfig), 1)
		require.NoError(t, os.WriteFile(filepath.Join(exDir, "main.tf"), []byte(src), 0o644))
		tofu(exDir, "init", "-input=false", "-plugin-dir="+plugins)
		tofu(exDir, "validate")
		tofu(exDir, "plan", "-input=false")
	}
	tofu(dir, "fmt", "-check", "-recursive", modDir)

	// Every variable of testdata/daemonset.tfvars: plan, apply, the objects in the cluster,
	// a second plan with nothing to change, destroy.
	vars, err := os.ReadFile("testdata/daemonset.tfvars")
	require.NoError(t, err)
	// No Prometheus operator CRDs in this cluster, and no kubelet to make the agents ready.
	vars = []byte(strings.Replace(string(vars), "service_monitor_enabled = true", "service_monitor_enabled = false", 1))
	root := filepath.Join(dir, "root")
	require.NoError(t, os.MkdirAll(root, 0o755))
	main := provider + fmt.Sprintf(`
module "sonde" {
  source = %q
  wait   = false
%s
}
output "release_name" { value = module.sonde.release_name }
output "namespace" { value = module.sonde.namespace }
output "status" { value = module.sonde.status }
output "chart_version" { value = module.sonde.chart_version }
`, rel(root), vars)
	require.NoError(t, os.WriteFile(filepath.Join(root, "main.tf"), []byte(main), 0o644))
	tofu(root, "init", "-input=false", "-plugin-dir="+plugins)
	tofu(root, "validate")
	tofu(root, "plan", "-input=false", "-out=plan")
	tofu(root, "apply", "-input=false", "plan")
	out := tofu(root, "output", "-json")
	for _, want := range []string{`"deployed"`, `"agents"`, `"telemetry"`, `"0.1.0"`} {
		require.Contains(t, out, want)
	}

	ds, err := s.Admin.AppsV1().DaemonSets("telemetry").Get(ctx, "agents-sonde", metav1.GetOptions{})
	require.NoError(t, err)
	c := ds.Spec.Template.Spec.Containers[0]
	require.Equal(t, "registry.example.com/sonde@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", c.Image)
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	require.Equal(t, "http://mimir.monitoring.svc:8080/api/v1/push", env["SONDE_PROMETHEUS_URL"])
	require.Equal(t, "http/protobuf", env["SONDE_OTLP_PROTOCOL"])
	require.Equal(t, "400MiB", env["GOMEMLIMIT"])
	require.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, ds.Spec.Template.Spec.NodeSelector)
	cm, err := s.Admin.CoreV1().ConfigMaps("telemetry").Get(ctx, "agents-sonde", metav1.GetOptions{})
	require.NoError(t, err)
	require.Contains(t, cm.Data["config.yaml"], "scrape_interval: 30s")

	require.Contains(t, tofu(root, "plan", "-input=false", "-detailed-exitcode"), "No changes")

	tofu(root, "destroy", "-input=false", "-auto-approve")
	_, err = s.Admin.AppsV1().DaemonSets("telemetry").Get(ctx, "agents-sonde", metav1.GetOptions{})
	require.Error(t, err, "the DaemonSet is gone after destroy")
}
