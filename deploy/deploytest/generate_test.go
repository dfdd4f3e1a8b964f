package deploytest

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the generated files of deploy/ (make manifests)")

// presetInput is an input of `sonde config show` that changes the preset's shape, with the
// placeholder the chart replaces by the value (templates/_helpers.tpl, sonde.presetYAML).
type presetInput struct {
	key, flag, placeholder string
}

// presetInputs, in the order their keys join into file names.
var presetInputs = []presetInput{
	{"prometheus", "--prometheus-url", "http://sonde-prometheus-url.invalid/placeholder"},
	{"loki", "--loki-url", "http://sonde-loki-url.invalid/placeholder"},
	{"static", "--static-targets", "sonde-static-targets.invalid:1"},
	{"otlp", "--otlp-endpoint", "http://sonde-otlp-endpoint.invalid:4317"},
}

// chartPresets are the presets the chart renders, daemonset (mode daemonset) and sidecar
// (mode gateway), with the inputs each requires (combinations without them are not made:
// the chart refuses them).
var chartPresets = []struct {
	name     string
	requires string
}{
	{"daemonset", ""},
	{"sidecar", "otlp"},
}

// TestGenerated: what deploy/ derives from other files is current. With -update (make
// manifests) it is rewritten instead, in this order:
//   - the chart's preset renderings: `sonde config show` for every combination of inputs;
//   - the chart's copy of deploy/dashboards (helm reads only files inside the chart);
//   - deploy/manifests/sonde.yaml: the chart rendered with its default values.
func TestGenerated(t *testing.T) {
	root := repoRoot(t)
	t.Run("presets", func(t *testing.T) {
		want := map[string]string{}
		for _, preset := range chartPresets {
			for mask := 0; mask < 1<<len(presetInputs); mask++ {
				args := []string{"config", "show", "--preset", preset.name}
				var keys []string
				for i, in := range presetInputs {
					if mask&(1<<i) != 0 {
						args = append(args, in.flag, in.placeholder)
						keys = append(keys, in.key)
					}
				}
				if preset.requires != "" && !slices.Contains(keys, preset.requires) {
					continue
				}
				name := strings.Join(keys, "-")
				if name == "" {
					name = "none"
				}
				out, err := sonde(t, args...)
				require.NoError(t, err)
				want[preset.name+"/"+name+".yaml"] = out
				// otlp.protocol http/protobuf: the same with otelcol.exporter.otlphttp,
				// named with otlphttp in place of otlp.
				if slices.Contains(keys, "otlp") {
					out, err := sonde(t, append(args, "--otlp-protocol", "http/protobuf")...)
					require.NoError(t, err)
					want[preset.name+"/"+strings.Replace(name, "otlp", "otlphttp", 1)+".yaml"] = out
				}
			}
		}
		dir := filepath.Join(root, chartDir, "files", "presets")
		if *update {
			require.NoError(t, os.RemoveAll(dir))
			for name, content := range want {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
			}
		}
		got := readDir(t, dir, "*/*.yaml")
		require.Equal(t, sortedKeys(want), sortedKeys(got), "%s: run make manifests", dir)
		for name := range want {
			require.True(t, want[name] == got[name], "%s/%s is not what sonde config show prints: run make manifests", dir, name)
		}
	})

	t.Run("dashboards", func(t *testing.T) {
		want := dashboardFiles(t)
		dir := filepath.Join(root, chartDir, "files", "dashboards")
		if *update {
			require.NoError(t, os.RemoveAll(dir))
			require.NoError(t, os.MkdirAll(dir, 0o755))
			for name, content := range want {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
			}
		}
		got := readDir(t, dir, "*.json")
		require.Equal(t, sortedKeys(want), sortedKeys(got), "%s: run make manifests", dir)
		for name := range want {
			require.True(t, want[name] == got[name], "%s/%s differs from deploy/dashboards: run make manifests", dir, name)
		}
	})

	t.Run("manifests", func(t *testing.T) {
		out, err := manifestsRelease.template(t)
		require.NoError(t, err)
		want := manifestsHeader + out
		path := filepath.Join(root, "deploy", "manifests", "sonde.yaml")
		if *update {
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		}
		require.True(t, want == string(mustRead(t, path)), "deploy/manifests/sonde.yaml differs from the chart's rendering: run make manifests")
	})
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
