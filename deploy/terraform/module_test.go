package terraform_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// chartValuesFile is the chart's values, which the module's variables mirror.
const chartValuesFile = "deploy/helm/sonde/values.yaml"

func thisModule(t *testing.T) *module {
	t.Helper()
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	return loadModule(t, dir)
}

func chartValues(t *testing.T) map[string]any {
	t.Helper()
	src, err := os.ReadFile(backendtest.RepoFile(t, chartValuesFile))
	require.NoError(t, err)
	var values map[string]any
	require.NoError(t, yaml.Unmarshal(src, &values))
	return values
}

// chartValue returns the chart's default at a dotted path, and whether values.yaml has it.
func chartValue(values map[string]any, path string) (any, bool) {
	var v any = values
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// testdataTfvars are the variable files the module is rendered with.
func testdataTfvars(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob("testdata/*.tfvars")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	return names
}

var update = flag.Bool("update", false, "format the module's files instead of checking them")

// TestFormatted: every file is as `tofu fmt` / `terraform fmt` leave it (both format with
// hclwrite).
func TestFormatted(t *testing.T) {
	var names []string
	for _, pattern := range []string{"*.tf", "examples/*/*.tf", "testdata/*.tfvars"} {
		found, err := filepath.Glob(pattern)
		require.NoError(t, err)
		names = append(names, found...)
	}
	require.NotEmpty(t, names)
	for _, name := range names {
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		_, diags := hclwrite.ParseConfig(src, name, hcl.InitialPos)
		require.False(t, diags.HasErrors(), "%s", diags)
		formatted := hclwrite.Format(src)
		if *update {
			require.NoError(t, os.WriteFile(name, formatted, 0o644))
			continue
		}
		require.Equal(t, string(src), string(formatted), "%s is not formatted (tofu fmt; go test -run TestFormatted -update formats it)", name)
	}
}

// TestVariablesDeclared: every variable has a type and a description, and its default fits
// its type.
func TestVariablesDeclared(t *testing.T) {
	m := thisModule(t)
	require.NotEmpty(t, m.Variables)
	for _, name := range sortedKeys(m.Variables) {
		v := m.Variables[name]
		require.True(t, v.HasType, "variable %q has no type", name)
		require.NotEmpty(t, v.Description, "variable %q has no description", name)
		require.True(t, unicode.IsUpper([]rune(v.Description)[0]) && strings.HasSuffix(v.Description, "."),
			"variable %q: a description is a sentence: %q", name, v.Description)
		require.Regexp(t, `^[a-z][a-z0-9_]*$`, name)
	}
	for _, name := range sortedKeys(m.Outputs) {
		require.NotNil(t, m.Outputs[name], "output %q has no value", name)
	}
}

// TestVariablesMapToChartValues: every variable is either an argument of the release or
// sets chart values that values.yaml has, with the kind of value it has there; chart
// variables default to null, so that the chart's own defaults apply.
func TestVariablesMapToChartValues(t *testing.T) {
	m := thisModule(t)
	values := chartValues(t)
	mapping := m.chartMapping(t)
	release := m.releaseVariables()
	require.NotEmpty(t, mapping)

	for _, name := range sortedKeys(m.Variables) {
		paths, isChart := mapping[name]
		switch {
		case isChart && release[name]:
			t.Errorf("variable %q is both a release argument and chart value %v", name, paths)
		case !isChart && !release[name]:
			t.Errorf("variable %q is used neither by the release nor as a chart value", name)
		case isChart:
			require.True(t, m.Variables[name].Default.IsNull(), "chart variable %q: default must be null (the chart's default applies)", name)
			require.Contains(t, m.Variables[name].Description, "Chart value "+strings.Join(paths, ", "), "variable %q: its description names its chart value", name)
			for _, p := range paths {
				_, ok := chartValue(values, p)
				require.True(t, ok, "variable %q sets %s, which %s does not have", name, p, chartValuesFile)
			}
		}
	}
	for name := range mapping {
		require.Contains(t, m.Variables, name, "chart_values refers to undeclared var.%s", name)
	}

	// Every chart value is set by some testdata tfvars, and has the kind there that the chart
	// gives it.
	set := map[string]bool{}
	for _, file := range testdataTfvars(t) {
		e, err := m.eval(loadTfvars(t, file))
		require.NoError(t, err, file)
		got := e.Locals["chart_values"]
		for name, paths := range mapping {
			for _, p := range paths {
				v, ok := ctyAt(got, p)
				if !ok {
					continue
				}
				set[name] = true
				def, _ := chartValue(values, p)
				require.Equal(t, yamlKind(def), ctyKind(v), "%s: var.%s sets %s to a %s; the chart's default is a %s", file, name, p, ctyKind(v), yamlKind(def))
			}
		}
	}
	for name := range mapping {
		require.True(t, set[name], "no testdata/*.tfvars sets var.%s", name)
	}
}

func ctyAt(v cty.Value, path string) (cty.Value, bool) {
	for _, key := range strings.Split(path, ".") {
		if v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
			return cty.NilVal, false
		}
		if v.Type().IsObjectType() && !v.Type().HasAttribute(key) {
			return cty.NilVal, false
		}
		if v.Type().IsMapType() && !v.HasIndex(cty.StringVal(key)).True() {
			return cty.NilVal, false
		}
		if v.Type().IsObjectType() {
			v = v.GetAttr(key)
		} else {
			v = v.Index(cty.StringVal(key))
		}
	}
	return v, !v.IsNull()
}

func ctyKind(v cty.Value) string {
	ty := v.Type()
	switch {
	case ty == cty.String:
		return "string"
	case ty == cty.Bool:
		return "bool"
	case ty == cty.Number:
		return "number"
	case ty.IsListType(), ty.IsTupleType(), ty.IsSetType():
		return "list"
	case ty.IsMapType(), ty.IsObjectType():
		return "map"
	}
	return ty.FriendlyName()
}

func yamlKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case int, int64, float64:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	}
	return "null"
}

// TestReadmeVariables: the README's variable table lists every variable, with the chart
// value it sets.
func TestReadmeVariables(t *testing.T) {
	m := thisModule(t)
	mapping := m.chartMapping(t)
	src, err := os.ReadFile("README.md")
	require.NoError(t, err)
	section := regexp.MustCompile("(?s)\n## Variables\n(.*?)\n## ").FindStringSubmatch(string(src))
	require.NotNil(t, section, "README.md has no Variables section")
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\| ([^|]*)\\|")
	documented := map[string]string{}
	for _, r := range row.FindAllStringSubmatch(section[1], -1) {
		documented[r[1]] = strings.TrimSpace(r[2])
	}
	for _, name := range sortedKeys(m.Variables) {
		got, ok := documented[name]
		require.True(t, ok, "README.md does not list variable %q", name)
		want := "(release)"
		if paths, isChart := mapping[name]; isChart {
			want = "`" + strings.Join(paths, "`, `") + "`"
		}
		require.Equal(t, want, got, "README.md: variable %q", name)
	}
	for name := range documented {
		require.Contains(t, m.Variables, name, "README.md lists variable %q, which the module does not declare", name)
	}
	// So does every output.
	for name := range m.Outputs {
		require.Contains(t, string(src), "`"+name+"`", "README.md does not mention output %q", name)
	}
}

// TestExamplesUseTheModule: the example and the README's HCL snippets call the module with
// declared variables only and read declared outputs only.
func TestExamplesUseTheModule(t *testing.T) {
	m := thisModule(t)
	var sources []struct{ name, src string }
	examples, err := filepath.Glob("examples/*/*.tf")
	require.NoError(t, err)
	require.NotEmpty(t, examples)
	for _, name := range examples {
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		sources = append(sources, struct{ name, src string }{name, string(src)})
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	require.NotEmpty(t, blocks, "README.md has no hcl example")
	for i, b := range blocks {
		sources = append(sources, struct{ name, src string }{"README.md hcl block " + string(rune('1'+i)), b[1]})
	}
	calls := 0
	for _, s := range sources {
		file, diags := hclsyntax.ParseConfig([]byte(s.src), s.name, hcl.InitialPos)
		require.False(t, diags.HasErrors(), "%s", diags)
		body := file.Body.(*hclsyntax.Body)
		for _, b := range body.Blocks {
			if b.Type != "module" {
				continue
			}
			calls++
			for name := range b.Body.Attributes {
				switch name {
				case "source", "version", "providers", "count", "for_each", "depends_on":
					continue
				}
				require.Contains(t, m.Variables, name, "%s: module %q sets an undeclared variable", s.name, b.Labels[0])
			}
		}
		// Every module.<name>.<output> reference names an output.
		for _, ref := range regexp.MustCompile(`module\.sonde\.([a-z_]+)`).FindAllStringSubmatch(s.src, -1) {
			require.Contains(t, m.Outputs, ref[1], "%s reads an undeclared output", s.name)
		}
	}
	require.Positive(t, calls, "no module call in the examples")
}

// TestValidations: a bad value fails with a message naming the variable, before anything
// reaches the cluster (terraform plan/validate show it).
func TestValidations(t *testing.T) {
	m := thisModule(t)
	for _, tc := range []struct {
		name string
		vars map[string]cty.Value
	}{
		{"mode", map[string]cty.Value{"mode": cty.StringVal("agent")}},
		{"otlp_protocol", map[string]cty.Value{"otlp_protocol": cty.StringVal("http")}},
		{"log_level", map[string]cty.Value{"log_level": cty.StringVal("trace")}},
		{"log_format", map[string]cty.Value{"log_format": cty.StringVal("text")}},
		{"job_names", map[string]cty.Value{"job_names": cty.StringVal("kube-prometheus")}},
		{"image_pull_policy", map[string]cty.Value{"image_pull_policy": cty.StringVal("always")}},
		{"release_name", map[string]cty.Value{"release_name": cty.StringVal(strings.Repeat("s", 54))}},
		// A type mismatch, as Terraform reports it for a tfvars value.
		{"gateway_replicas", map[string]cty.Value{"gateway_replicas": cty.StringVal("three")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.eval(tc.vars)
			require.Error(t, err)
			require.Contains(t, err.Error(), "var."+tc.name)
		})
	}
	// Each good value of an enumeration passes.
	for name, good := range map[string][]string{
		"mode":              {"daemonset", "gateway"},
		"otlp_protocol":     {"grpc", "http/protobuf"},
		"log_level":         {"debug", "info", "warn", "error"},
		"log_format":        {"logfmt", "json"},
		"job_names":         {"prometheus", "alloy"},
		"image_pull_policy": {"Always", "IfNotPresent", "Never"},
	} {
		for _, v := range good {
			_, err := m.eval(map[string]cty.Value{name: cty.StringVal(v)})
			require.NoError(t, err, "%s = %q", name, v)
		}
	}
}

// TestDefaultsAreTheChartDefaults: with every variable at its default the module sends the
// chart an empty values document, and helm renders exactly what it renders with no values
// at all.
func TestDefaultsAreTheChartDefaults(t *testing.T) {
	m := thisModule(t)
	e, err := m.eval(nil)
	require.NoError(t, err)
	require.True(t, e.Locals["chart_values"].RawEquals(cty.EmptyObjectVal), "chart_values with the defaults: %#v", e.Locals["chart_values"])
	require.Equal(t, []string{"{}"}, e.ValuesDocs(t))
	require.Equal(t, "sonde", e.String(t, "name"))
	require.Equal(t, "sonde", e.String(t, "namespace"))
	require.Equal(t, filepath.Join(m.Dir, "../helm/sonde"), filepath.Clean(e.String(t, "chart")))
	require.Equal(t, cty.True, e.Release["create_namespace"])

	viaModule, err := helm(t, helmArgs(t, e, "template")...)
	require.NoError(t, err)
	plain, err := helm(t, "template", "sonde", backendtest.RepoFile(t, "deploy/helm/sonde"), "--namespace", "sonde")
	require.NoError(t, err)
	require.Equal(t, plain, viaModule)

	ds := only(t, objects(t, viaModule), "DaemonSet")
	c := at(t, ds, "spec", "template", "spec", "containers", 0)
	require.Equal(t, "ghcr.io/sondehq/sonde:0.1.0", at(t, c, "image"))
}

// TestDaemonSetTfvars: testdata/daemonset.tfvars (nearly every variable set) renders a
// DaemonSet with what each variable asks for, and passes helm lint --strict.
func TestDaemonSetTfvars(t *testing.T) {
	m := thisModule(t)
	e, err := m.eval(loadTfvars(t, "testdata/daemonset.tfvars"))
	require.NoError(t, err)
	require.Len(t, e.ValuesDocs(t), 2, "the module's values, then extra_values")
	require.Equal(t, cty.False, e.Release["create_namespace"])

	out, err := helm(t, helmArgs(t, e, "template")...)
	require.NoError(t, err)
	objs := objects(t, out)
	for _, o := range objs {
		if ns, ok := at(t, o, "metadata").(map[string]any)["namespace"]; ok {
			require.Equal(t, "telemetry", ns, "%s %s", o["kind"], at(t, o, "metadata", "name"))
		}
	}
	require.Zero(t, count(objs, "Deployment"))
	ds := only(t, objs, "DaemonSet")
	require.Equal(t, "agents-sonde", at(t, ds, "metadata", "name"))
	pod := at(t, ds, "spec", "template")
	spec := at(t, pod, "spec")
	c := at(t, spec, "containers", 0)

	require.Equal(t, "registry.example.com/sonde@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", at(t, c, "image"), "a digest wins over the tag")
	require.Equal(t, "Always", at(t, c, "imagePullPolicy"))
	require.Equal(t, []any{map[string]any{"name": "registry-pull"}}, at(t, spec, "imagePullSecrets"))

	got := env(t, c)
	for name, want := range map[string]any{
		"SONDE_PROMETHEUS_URL":               "http://mimir.monitoring.svc:8080/api/v1/push",
		"SONDE_LOKI_URL":                     "http://loki.monitoring.svc:3100",
		"SONDE_OTLP_ENDPOINT":                "http://tempo.monitoring.svc:4318",
		"SONDE_OTLP_PROTOCOL":                "http/protobuf",
		"SONDE_JOB_NAMES":                    "alloy",
		"SONDE_KUBELET_INSECURE_SKIP_VERIFY": "true",
		"GOMEMLIMIT":                         "400MiB",
		"SONDE_EXTRA_TOKEN":                  secretRef("extra", "token"),
		"SONDE_PROMETHEUS_USERNAME":          secretRef("mimir-auth", "username"),
		"SONDE_PROMETHEUS_PASSWORD":          secretRef("mimir-auth", "password"),
		"SONDE_LOKI_USERNAME":                secretRef("loki-auth", "username"),
		"SONDE_LOKI_PASSWORD":                secretRef("loki-auth", "password"),
	} {
		require.Equal(t, want, got[name], "env %s", name)
	}

	args := at(t, c, "args").([]any)
	for _, want := range []string{"--log.level=debug", "--log.format=json", "--storage.lock-timeout=2m", "--server.listen=0.0.0.0:12346"} {
		require.Contains(t, args, want, "args (--server.listen from extra_values)")
	}
	require.Equal(t, 12346, at(t, c, "ports", 0, "containerPort"))

	// Requests and limits merge into the chart's: the memory request stays.
	require.Equal(t, map[string]any{
		"requests": map[string]any{"cpu": "200m", "memory": "128Mi"},
		"limits":   map[string]any{"memory": "1Gi"},
	}, at(t, c, "resources"))

	require.Equal(t, map[string]any{"kubernetes.io/os": "linux"}, at(t, spec, "nodeSelector"))
	require.Contains(t, at(t, spec, "tolerations"), map[string]any{
		"key": "example.com/maintenance", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300,
	})
	require.Equal(t, []any{"edge"}, at(t, spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
		"nodeSelectorTerms", 0, "matchExpressions", 0, "values"))
	require.Equal(t, "sre", at(t, pod, "metadata", "labels", "team"))
	require.Equal(t, "sre", at(t, pod, "metadata", "annotations", "example.com/owner"))

	// The configuration: the preset with the override, without the removed component, with
	// the headers, tenant and static target.
	var config string
	for _, o := range objs {
		if o["kind"] == "ConfigMap" && at(t, o, "metadata", "name") == "agents-sonde" {
			config = at(t, o, "data", "config.yaml").(string)
		}
	}
	require.NotEmpty(t, config, "no ConfigMap agents-sonde")
	for _, want := range []string{"scrape_interval: 30s", "X-Scope-OrgID: team-a", "X-Team: a", "tenant_id: team-a", "argo-rollouts-metrics.argo-rollouts.svc:8090"} {
		require.Contains(t, config, want)
	}
	require.NotContains(t, config, "prometheus.exporter.gpu/gpu")

	require.Equal(t, 1, count(objs, "ServiceMonitor"), "service_monitor_enabled")
	dashboards := 0
	for _, o := range objs {
		if o["kind"] == "ConfigMap" && strings.Contains(at(t, o, "metadata", "name").(string), "-dashboard-") {
			dashboards++
		}
	}
	require.Positive(t, dashboards, "dashboards_enabled")

	_, err = helm(t, append(helmArgs(t, e, "lint"), "--strict")...)
	require.NoError(t, err)
}

func secretRef(name, key string) map[string]any {
	return map[string]any{"secretKeyRef": map[string]any{"name": name, "key": key}}
}

// TestGatewayTfvars: testdata/gateway.tfvars renders the gateway Deployment with its
// replicas and the whole configuration given.
func TestGatewayTfvars(t *testing.T) {
	m := thisModule(t)
	vars := loadTfvars(t, "testdata/gateway.tfvars")
	e, err := m.eval(vars)
	require.NoError(t, err)
	out, err := helm(t, helmArgs(t, e, "template")...)
	require.NoError(t, err)
	objs := objects(t, out)
	require.Zero(t, count(objs, "DaemonSet"))
	d := only(t, objs, "Deployment")
	require.Equal(t, 3, at(t, d, "spec", "replicas"))
	c := at(t, d, "spec", "template", "spec", "containers", 0)
	got := env(t, c)
	require.Equal(t, "tempo.monitoring.svc:4317", got["SONDE_OTLP_ENDPOINT"])
	require.Equal(t, secretRef("mimir-token", "token"), got["SONDE_PROMETHEUS_BEARER_TOKEN"])
	require.Equal(t, secretRef("loki-token", "token"), got["SONDE_LOKI_BEARER_TOKEN"])
	var config string
	for _, o := range objs {
		if o["kind"] == "ConfigMap" {
			if s, ok := at(t, o, "data").(map[string]any)["config.yaml"].(string); ok {
				config = s
			}
		}
	}
	require.Equal(t, vars["config_content"].AsString(), config)

	_, err = helm(t, append(helmArgs(t, e, "lint"), "--strict")...)
	require.NoError(t, err)

	// What only the chart can check still fails at rendering, naming the value: a gateway
	// needs somewhere to forward to (unless its whole configuration is given).
	delete(vars, "otlp_endpoint")
	delete(vars, "config_content")
	e, err = m.eval(vars)
	require.NoError(t, err)
	_, err = helm(t, helmArgs(t, e, "template")...)
	require.ErrorContains(t, err, "otlp.endpoint")
}
