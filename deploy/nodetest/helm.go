package nodetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// HelmVersion is the helm that `make deps` caches (deps-helm).
const HelmVersion = "v3.22.0"

// Helm runs helm (from the cache, or $SONDE_HELM) against the node with the given arguments
// and no user configuration, and returns its output.
func (n *Node) Helm(args ...string) (string, error) {
	bin := os.Getenv("SONDE_HELM")
	if bin == "" {
		bin = backendtest.Binary(n.t, "helm", "SONDE_HELM", "helm", HelmVersion, "make deps")
	}
	home := filepath.Join(n.Dir, "helm")
	cmd := exec.Command(bin, append(args, "--kubeconfig", n.Kubeconfig)...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// Release is sonde installed by its chart (deploy/helm/sonde).
type Release struct {
	Name, Namespace string
	// Values are the chart values, written to a values file.
	Values map[string]any
}

// InstallSonde runs `helm upgrade --install --wait` of the chart with r's values: an
// install the first time, a (rolling) upgrade after.
func (n *Node) InstallSonde(r Release) (time.Duration, error) {
	data, err := yaml.Marshal(r.Values)
	if err != nil {
		return 0, err
	}
	values := filepath.Join(n.Dir, "values-"+r.Name+".yaml")
	if err := os.WriteFile(values, data, 0o644); err != nil {
		return 0, err
	}
	chart := backendtest.RepoFile(n.t, "deploy/helm/sonde")
	start := time.Now()
	_, err = n.Helm("upgrade", "--install", r.Name, chart, "--namespace", r.Namespace, "--create-namespace",
		"--values", values, "--wait", "--timeout", "3m")
	return time.Since(start), err
}
