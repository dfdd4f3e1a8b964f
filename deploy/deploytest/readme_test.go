package deploytest

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sondehq/sonde/discovery/kubetest"
)

var valuesRowRe = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

// TestValuesDocumented: every value of values.yaml has a row in the README's table (a row
// for a map documents everything under it), and every row names a value that exists.
func TestValuesDocumented(t *testing.T) {
	dir := filepath.Join(repoRoot(t), chartDir)
	var values map[string]any
	require.NoError(t, yaml.Unmarshal(mustRead(t, filepath.Join(dir, "values.yaml")), &values))
	all := map[string]bool{}
	var leaves []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := prefix + k
			all[p] = true
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(p+".", sub)
				continue
			}
			leaves = append(leaves, p)
		}
	}
	walk("", values)
	sort.Strings(leaves)

	rows := map[string]bool{}
	for _, m := range valuesRowRe.FindAllStringSubmatch(string(mustRead(t, filepath.Join(dir, "README.md"))), -1) {
		require.True(t, all[m[1]], "README documents %s, which values.yaml does not have", m[1])
		rows[m[1]] = true
	}
	for _, leaf := range leaves {
		documented := false
		for p := leaf; p != ""; {
			if rows[p] {
				documented = true
				break
			}
			i := strings.LastIndex(p, ".")
			if i < 0 {
				break
			}
			p = p[:i]
		}
		require.True(t, documented, "value %s has no row in deploy/helm/sonde/README.md", leaf)
	}
}

// TestSidecarSnippet: the sidecar form shown in the chart's README is a valid pod spec (a
// real API server accepts it) and its sonde container's command line and environment give
// a valid configuration.
func TestSidecarSnippet(t *testing.T) {
	readme := string(mustRead(t, filepath.Join(repoRoot(t), chartDir, "README.md")))
	_, after, ok := strings.Cut(readme, "Sidecar form")
	require.True(t, ok)
	_, block, ok := strings.Cut(after, "```yaml\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)

	var spec map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(block), &spec))
	var sidecar map[string]any
	for _, c := range spec["containers"].([]any) {
		if c := c.(map[string]any); c["name"] == "sonde" {
			sidecar = c
		}
	}
	require.NotNil(t, sidecar)
	var args []string
	for _, a := range sidecar["args"].([]any) {
		args = append(args, a.(string))
	}
	require.Equal(t, "run", args[0])
	env := map[string]string{}
	for _, e := range sidecar["env"].([]any) {
		e := e.(map[string]any)
		env[e["name"].(string)] = e["value"].(string)
	}
	// `sonde validate` takes the same source flags as `sonde run`, not its server flags.
	validate := []string{"validate"}
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "--storage.path") && !strings.HasPrefix(a, "--server.listen") {
			validate = append(validate, a)
		}
	}
	require.NotEmpty(t, env["SONDE_OTLP_ENDPOINT"])
	validate = append(validate, "--otlp-endpoint", env["SONDE_OTLP_ENDPOINT"])
	out, err := sonde(t, validate...)
	require.NoError(t, err)
	require.Contains(t, out, "<preset sidecar> is valid")

	c := newCluster(t)
	ns := kubetest.Unique("sidecar")
	c.s.CreateNamespace(t, ns)
	pod := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "app", "namespace": ns},
		"spec":     spec,
	}}
	require.NoError(t, c.apply(t, pod, true))
}
