package terraform_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// helmVersion is the helm that `make deps` caches (deps-helm), as in deploy/deploytest.
const helmVersion = "v3.22.0"

// helm runs helm with the given arguments and returns its standard output; an error carries
// its standard error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	backendtest.SkipShort(t, "helm")
	bin := backendtest.Binary(t, "helm", "SONDE_HELM", "helm", helmVersion, "make deps (deploy/deploytest/install-helm.sh)")
	cmd := exec.Command(bin, args...)
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

// helmArgs are the arguments of helm verb (template or lint) for the release the module
// describes: its chart, name and namespace, and its values documents in order, as files —
// what the helm provider hands Helm.
func helmArgs(t *testing.T, e *evaluation, verb string) []string {
	t.Helper()
	args := []string{verb}
	if verb == "template" {
		args = append(args, e.String(t, "name"))
	}
	args = append(args, e.String(t, "chart"), "--namespace", e.String(t, "namespace"))
	dir := t.TempDir()
	for i, doc := range e.ValuesDocs(t) {
		name := filepath.Join(dir, "values-"+strconv.Itoa(i)+".yaml")
		require.NoError(t, os.WriteFile(name, []byte(doc), 0o600))
		args = append(args, "--values", name)
	}
	return args
}

// object is one rendered Kubernetes object.
type object = map[string]any

// objects splits a rendering into its objects.
func objects(t *testing.T, text string) []object {
	t.Helper()
	var out []object
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if o != nil {
			out = append(out, o)
		}
	}
}

// only returns the one object of kind, failing the test when there is none or several.
func only(t *testing.T, objs []object, kind string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o["kind"] == kind {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "objects of kind %s", kind)
	return found[0]
}

// count returns how many objects of kind there are.
func count(objs []object, kind string) int {
	n := 0
	for _, o := range objs {
		if o["kind"] == kind {
			n++
		}
	}
	return n
}

// at follows a path of map keys and list indexes through a decoded object.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			require.True(t, ok, "%v: not a map at %v", path, path[:i])
			v, ok = m[k]
			require.True(t, ok, "%v: no %q at %v", path, k, path[:i])
		case int:
			l, ok := v.([]any)
			require.True(t, ok, "%v: not a list at %v", path, path[:i])
			require.Greater(t, len(l), k, "%v: list too short at %v", path, path[:i])
			v = l[k]
		}
	}
	return v
}

// env returns a container's environment by name: the value, or the valueFrom map.
func env(t *testing.T, container any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, e := range at(t, container, "env").([]any) {
		e := e.(map[string]any)
		name := e["name"].(string)
		require.NotContains(t, out, name, "env %s twice", name)
		if v, ok := e["valueFrom"]; ok {
			out[name] = v
		} else {
			out[name] = e["value"]
		}
	}
	return out
}
