package config

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// Test components: a source that forwards metrics and a sink with nested arguments.
type sourceArgs struct {
	ForwardTo []string       `yaml:"forward_to"`
	Targets   []string       `yaml:"targets"`
	Interval  model.Duration `yaml:"interval"`
	Port      int            `yaml:"port"`
}

func (a *sourceArgs) Validate() error {
	if len(a.ForwardTo) == 0 {
		return pipeline.Field("forward_to", "at least one component is required")
	}
	return nil
}

func (a *sourceArgs) References() []pipeline.Reference {
	return []pipeline.Reference{
		{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo},
		{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets},
	}
}

type sinkArgs struct {
	Endpoint struct {
		URL     string            `yaml:"url"`
		Headers map[string]string `yaml:"headers"`
		Retries uint              `yaml:"retries"`
		Timeout time.Duration     `yaml:"timeout"`
		Size    testSize          `yaml:"size"`
	} `yaml:"endpoint"`
}

// testSize is a scalar with its own decoder, as units.ByteSize: it reads a string.
type testSize int64

func (s *testSize) UnmarshalYAML(unmarshal func(any) error) error {
	var str string
	if err := unmarshal(&str); err != nil {
		return err
	}
	*s = testSize(len(str))
	return nil
}

func (a *sinkArgs) Validate() error {
	u, err := url.Parse(a.Endpoint.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return pipeline.Nest("endpoint", pipeline.Field("url", "must be an absolute http(s) URL, got %q", a.Endpoint.URL))
	}
	return nil
}

type nopComponent struct{}

func (nopComponent) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func testRegistry(t testing.TB) *pipeline.Registry {
	newNop := func(pipeline.Options, pipeline.Arguments) (pipeline.Component, error) { return nopComponent{}, nil }
	reg, err := pipeline.NewRegistry(
		pipeline.Registration{Type: "test.source", Args: func() pipeline.Arguments {
			return &sourceArgs{Interval: model.Duration(15e9)}
		}, Exports: []pipeline.EdgeKind{pipeline.KindTargets}, New: newNop},
		pipeline.Registration{Type: "test.sink", Args: func() pipeline.Arguments { return &sinkArgs{} },
			Exports: []pipeline.EdgeKind{pipeline.KindMetrics}, New: newNop},
	)
	require.NoError(t, err)
	return reg
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseValid(t *testing.T) {
	y := `
components:
  test.source/a:
    forward_to: [test.sink/out]
    interval: 30s
    port: ${PORT}
  test.sink/out:
    endpoint:
      url: ${URL:-http://127.0.0.1:9090}/api/v1/write
      headers: {X-Scope-OrgID: "${TENANT}"}
`
	f, err := Parse("cfg.yaml", []byte(y), testRegistry(t), env(map[string]string{"PORT": "8080", "TENANT": "42"}))
	require.NoError(t, err)
	require.Len(t, f.Specs, 2)
	src := f.Specs[0].Args.(*sourceArgs)
	require.Equal(t, 8080, src.Port, "an expanded plain scalar resolves to an int again")
	require.Equal(t, model.Duration(30e9), src.Interval)
	sink := f.Specs[1].Args.(*sinkArgs)
	require.Equal(t, "http://127.0.0.1:9090/api/v1/write", sink.Endpoint.URL)
	require.Equal(t, "42", sink.Endpoint.Headers["X-Scope-OrgID"], "a quoted value stays a string")
	require.Equal(t, "cfg.yaml:4", f.Specs[0].Locate("forward_to"))
}

func TestParseDefaultsKept(t *testing.T) {
	y := "components:\n  test.source/a:\n    forward_to: [test.sink/b]\n  test.sink/b:\n    endpoint: {url: http://x:1}\n"
	f, err := Parse("c.yaml", []byte(y), testRegistry(t), env(nil))
	require.NoError(t, err)
	require.Equal(t, model.Duration(15e9), f.Specs[0].Args.(*sourceArgs).Interval)
}

func TestParseErrors(t *testing.T) {
	sink := "  test.sink/out:\n    endpoint: {url: http://x:1}\n"
	cases := []struct {
		name string
		yaml string
		want []string // each must appear in the error text
	}{
		{"unknown top-level key", "server: {}\ncomponents:\n" + sink, []string{"c.yaml:1:", `unknown top-level field "server"`}},
		{"no components", "components:\n", []string{"no components defined"}},
		{"bad key", "components:\n  nosuchslash:\n    {}\n", []string{"c.yaml:2:", "must be <type>/<name>"}},
		{"unknown type suggests", "components:\n  test.sorce/a: {}\n", []string{"c.yaml:2:", `unknown component type "test.sorce"`, `did you mean "test.source"`}},
		{"unknown field", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n    intervall: 1s\n" + sink,
			[]string{"c.yaml:4: test.source/a: intervall: unknown field", "valid: forward_to, interval, port, targets"}},
		{"unknown nested field", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint:\n      url: http://x:1\n      header: {}\n",
			[]string{"c.yaml:7: test.sink/out: endpoint.header: unknown field"}},
		{"duplicate field", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n    port: 1\n    port: 2\n" + sink,
			[]string{"c.yaml:5:", "port: written twice (first at line 4)"}},
		{"duplicate id", "components:\n" + sink + sink + "  test.source/a: {forward_to: [test.sink/out]}\n",
			[]string{"c.yaml:4:", "duplicate component id (first defined at line 2)"}},
		{"bad duration", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n    interval: 5 minutes\n" + sink,
			[]string{"c.yaml:4: test.source/a:", "5 minutes"}},
		{"bad int", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n    port: eighty\n" + sink,
			[]string{`c.yaml:4: test.source/a: port: cannot use "eighty" (string) as integer`}},
		{"wrong type names the nested field", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint:\n      url: http://x:1\n      retries: lots\n",
			[]string{`c.yaml:7: test.sink/out: endpoint.retries: cannot use "lots" (string) as unsigned integer`}},
		{"negative unsigned", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint: {url: http://x:1, retries: -1}\n",
			[]string{`c.yaml:5: test.sink/out: endpoint.retries: cannot use -1 (integer) as unsigned integer`}},
		{"string for a list", "components:\n  test.source/a:\n    forward_to: test.sink/out\n" + sink,
			[]string{`c.yaml:3: test.source/a: forward_to: cannot use "test.sink/out" (string) as list`}},
		{"mapping for a string", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint:\n      url: {host: x}\n",
			[]string{`c.yaml:6: test.sink/out: endpoint.url: cannot use a mapping as string`}},
		{"list for a map value", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint:\n      url: http://x:1\n      headers:\n        A: ok\n        B: [1]\n",
			[]string{`c.yaml:9: test.sink/out: endpoint.headers.B: cannot use a list as string`}},
		{"wrong type for a custom decoder", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint: {url: http://x:1, size: [1]}\n",
			[]string{`c.yaml:5: test.sink/out: endpoint.size: cannot use a list as config.testSize (read from a string)`}},
		{"bad time.Duration", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint: {url: http://x:1, timeout: soon}\n",
			[]string{`c.yaml:5: test.sink/out: endpoint.timeout: cannot use "soon" (string) as duration (such as 30s)`}},
		{"every type error", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n    port: eighty\n    interval: 5 minutes\n  test.sink/out:\n    endpoint: {url: http://x:1, retries: lots}\n",
			[]string{`c.yaml:4: test.source/a: port: cannot use "eighty" (string) as integer`, `c.yaml:5: test.source/a: interval: unknown unit " minutes" in duration "5 minutes"`,
				`c.yaml:7: test.sink/out: endpoint.retries: cannot use "lots" (string) as unsigned integer`}},
		{"validate names field and line", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint:\n      url: not-a-url\n",
			[]string{"c.yaml:6: test.sink/out: endpoint.url: must be an absolute http(s) URL"}},
		{"missing required field points at component", "components:\n  test.source/a:\n    port: 1\n" + sink,
			[]string{"c.yaml:3: test.source/a: forward_to: at least one component is required"}},
		{"dangling reference", "components:\n  test.source/a:\n    forward_to: [test.sink/nope]\n" + sink,
			[]string{"c.yaml:3: test.source/a: forward_to[0]: no component \"test.sink/nope\""}},
		{"wrong edge kind", "components:\n  test.source/a:\n    forward_to: [test.source/b]\n  test.source/b:\n    forward_to: [test.sink/out]\n" + sink,
			[]string{"c.yaml:3: test.source/a: forward_to[0]:", "does not accept/export metrics", "exports: targets"}},
		{"self reference", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n    targets: [test.source/a]\n" + sink,
			[]string{"c.yaml:4: test.source/a: targets[0]: refers to itself"}},
		{"cycle", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n    targets: [test.source/b]\n  test.source/b:\n    forward_to: [test.sink/out]\n    targets: [test.source/a]\n" + sink,
			[]string{"reference cycle: test.source/a -> test.source/b -> test.source/a"}},
		{"required env var", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint: {url: \"${URL:?set URL to the remote-write URL}\"}\n",
			[]string{"c.yaml:5: test.sink/out: endpoint.url: environment variable URL: set URL to the remote-write URL"}},
		{"unset env var names variable and field", "components:\n  test.source/a:\n    forward_to: [test.sink/out]\n  test.sink/out:\n    endpoint:\n      url: http://x:1\n      headers: {X-Scope-OrgID: \"${TENANT}\"}\n",
			[]string{"c.yaml:7: test.sink/out: endpoint.headers.X-Scope-OrgID: environment variable TENANT is not set", "${TENANT:-}"}},
		{"unset env var in a list", "components:\n  test.source/a:\n    forward_to:\n      - test.sink/out\n      - ${SINK}\n" + sink,
			[]string{"c.yaml:5: test.source/a: forward_to[1]: environment variable SINK is not set"}},
		{"yaml syntax", "components:\n  test.source/a: [\n", []string{"c.yaml:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml), testRegistry(t), env(nil))
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseReportsEveryComponentError(t *testing.T) {
	y := "components:\n  test.source/a:\n    bogus: 1\n  test.sink/out:\n    endpoint: {url: nope}\n"
	_, err := Parse("c.yaml", []byte(y), testRegistry(t), env(nil))
	require.Error(t, err)
	require.Contains(t, err.Error(), "c.yaml:3: test.source/a: bogus: unknown field")
	require.Contains(t, err.Error(), "c.yaml:5: test.sink/out: endpoint.url")
	var le *LineError
	require.True(t, errors.As(err, &le))
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), testRegistry(t))
	require.ErrorContains(t, err, "nope.yaml")
}

func TestExpand(t *testing.T) {
	lookup := env(map[string]string{"A": "1", "EMPTY": ""})
	cases := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "1", ""},
		{"x${A}y${A}", "x1y1", ""},
		{"${UNSET}", "", "environment variable UNSET is not set (write ${UNSET:-} if empty is intended"},
		{"a${A}b${UNSET}c", "", "environment variable UNSET is not set"},
		{"${UNSET:-}", "", ""},
		{"${EMPTY}", "", ""},
		{"${EMPTY:-}", "", ""},
		{"${UNSET:-dflt}", "dflt", ""},
		{"${EMPTY:-dflt}", "dflt", ""},
		{"${A:-dflt}", "1", ""},
		{"$$A and $${A}", "$A and ${A}", ""},
		{"cost: $5", "cost: $5", ""},
		{"${UNSET:?needed}", "", "environment variable UNSET: needed"},
		{"${A", "", "unterminated"},
		{"${1BAD}", "", "invalid variable name"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Expand(tc.in, lookup)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestRemoteWriteURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9090":         "http://127.0.0.1:9090/api/v1/write",
		"http://127.0.0.1:9090/":        "http://127.0.0.1:9090/api/v1/write",
		"https://mimir:443/api/v1/push": "https://mimir:443/api/v1/push",
		"":                              "",
	} {
		got, err := RemoteWriteURL(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"127.0.0.1:9090", "ftp://x", "http://"} {
		_, err := RemoteWriteURL(bad)
		require.Error(t, err, bad)
	}
}

func TestPresetsRender(t *testing.T) {
	for _, name := range PresetNames() {
		for _, url := range []string{"", "http://127.0.0.1:9090/api/v1/write"} {
			data := PresetData{PrometheusURL: url, Kubeconfig: "/home/me/.kube/config", APIServer: "https://127.0.0.1:6443"}
			if url != "" || name == "sidecar" {
				data.LokiURL = "http://127.0.0.1:3100/loki/api/v1/push"
				data.OTLPEndpoint = "http://127.0.0.1:4317"
			}
			y, err := RenderPreset(name, data)
			require.NoError(t, err)
			golden := filepath.Join("testdata", "preset-"+name+map[bool]string{true: "-remote-write", false: "-local"}[url != ""]+".yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, y, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./config -update")
			require.Equal(t, string(want), string(y))
			// Traces go out only with an endpoint (cluster-local, on a laptop, receives no OTLP).
			require.Equal(t, data.OTLPEndpoint != "" && name != "cluster-local", strings.Contains(string(y), "otelcol.exporter.otlp/default"))
			if name == "sidecar" {
				continue // OTLP only
			}
			require.Equal(t, url != "", strings.Contains(string(y), "prometheus.remote_write/default"))
			require.Equal(t, url != "", strings.Contains(string(y), "loki.write/default"))
		}
	}
	_, err := RenderPreset("nope", PresetData{})
	require.ErrorContains(t, err, "available: cluster-local, daemonset, host, sidecar")
	_, err = RenderPreset("sidecar", PresetData{})
	require.ErrorContains(t, err, "give --otlp-endpoint")
}

func TestDetectPresetKubeconfig(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	name, _ := DetectPreset(env(map[string]string{"KUBECONFIG": kc, "HOME": dir}))
	require.Equal(t, "host", name, "no kubeconfig file")
	require.NoError(t, os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	name, why := DetectPreset(env(map[string]string{"KUBECONFIG": kc + string(filepath.ListSeparator) + "/other", "HOME": dir}))
	require.Equal(t, "cluster-local", name)
	require.Contains(t, why, kc)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".kube"), 0o755))
	require.NoError(t, os.Rename(kc, filepath.Join(dir, ".kube", "config")))
	name, _ = DetectPreset(env(map[string]string{"HOME": dir}))
	require.Equal(t, "cluster-local", name, "~/.kube/config")
}
