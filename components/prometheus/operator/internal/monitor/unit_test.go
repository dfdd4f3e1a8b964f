package monitor_test

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sondehq/sonde/components/prometheus/operator/internal/monitor"
	"github.com/sondehq/sonde/pipeline"
)

// TestProbeJobErrors: a Probe that cannot be scraped names its field.
func TestProbeJobErrors(t *testing.T) {
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"no prober", `{targets: {staticConfig: {static: [a]}}}`, "spec.prober.url: required"},
		{"no targets", `{prober: {url: "b:9115"}}`, "spec.targets: neither staticConfig nor ingress is set"},
		{"bad path", `{prober: {url: "b:9115", path: probe}, targets: {staticConfig: {static: [a]}}}`, "spec.prober.path"},
		{"bad interval", `{prober: {url: "b:9115"}, interval: soon, targets: {staticConfig: {static: [a]}}}`, "spec.interval"},
		{"bad relabeling", `{prober: {url: "b:9115"}, targets: {staticConfig: {static: [a], relabelingConfigs: [{sourceLabels: [a], regex: "(", targetLabel: b}]}}}`,
			"spec.targets.staticConfig.relabelingConfigs[0]"},
		{"bad metric relabeling", `{prober: {url: "b:9115"}, metricRelabelings: [{action: nope}], targets: {staticConfig: {static: [a]}}}`,
			"spec.metricRelabelings[0]"},
		{"bad ingress selector", `{prober: {url: "b:9115"}, targets: {ingress: {selector: {matchExpressions: [{key: a, operator: Near}]}}}}`,
			"spec.targets.ingress.selector.matchExpressions[0].operator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := monitor.DecodeProbe(object(t, "Probe", tc.spec))
			require.NoError(t, err)
			_, err = monitor.ProbeJob(p)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestConnectionSettings: supported TLS and credential fields travel in the settings
// label; unsupported ones skip the endpoint, naming the field.
func TestConnectionSettings(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint string
		skipped        string // "" when scraped
		settings       string // the settings label, "" when none
	}{
		{"plain", `{port: web}`, "", ""},
		{"tls from configmap", `{port: web, tlsConfig: {ca: {configMap: {name: ca, key: c}}, serverName: x}}`, "",
			`{"namespace":"ns","tlsConfig":{"ca":{"configMap":{"name":"ca","key":"c"}},"cert":{},"serverName":"x"}}`},
		{"basic auth", `{port: web, basicAuth: {username: {name: s, key: u}, password: {name: s, key: p}}}`, "",
			`{"namespace":"ns","basicAuth":{"username":{"name":"s","key":"u"},"password":{"name":"s","key":"p"}}}`},
		{"tls file", `{port: web, tlsConfig: {caFile: /etc/ca.pem}}`, `spec.endpoints[0].tlsConfig: json: unknown field "caFile"`, ""},
		{"oauth2", `{port: web, oauth2: {tokenUrl: "http://x"}}`, "spec.endpoints[0].oauth2 is not supported", ""},
		{"bearer file", `{port: web, bearerTokenFile: /var/run/token}`, "spec.endpoints[0].bearerTokenFile is not supported", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := monitor.Decode(object(t, "ServiceMonitor", `{endpoints: [`+tc.endpoint+`]}`), "endpoints")
			require.NoError(t, err)
			require.Equal(t, tc.skipped, m.Skipped[0])
			jobs, err := monitor.Jobs(monitor.ServiceMonitor, m)
			require.NoError(t, err)
			if tc.skipped != "" {
				require.Empty(t, jobs)
				return
			}
			require.Len(t, jobs, 1)
			require.Equal(t, model.LabelValue(tc.settings), jobs[0].Labels[monitor.SettingsLabel])
		})
	}
}

// TestIngressTargets: one target per rule host and path, as Prometheus' ingress role.
func TestIngressTargets(t *testing.T) {
	ing := object(t, "Ingress", `
tls: [{hosts: ["*.example.org"]}]
rules:
- host: a.example.org
  http: {paths: [{path: /x, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}, {path: "", pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
- host: b.other.org
- host: c.example.org
  http: {paths: []}
`)
	ing.SetAPIVersion("networking.k8s.io/v1")
	ing.SetLabels(map[string]string{"app.kubernetes.io/name": "shop"})
	ts, bad := monitor.IngressTargets([]*unstructured.Unstructured{ing})
	require.Zero(t, bad)
	var got []string
	for _, tg := range ts {
		require.Equal(t, model.LabelValue("shop"), tg["__meta_kubernetes_ingress_label_app_kubernetes_io_name"])
		got = append(got, string(tg["__meta_kubernetes_ingress_scheme"]+"://"+tg["__address__"]+tg["__meta_kubernetes_ingress_path"]))
	}
	require.Equal(t, []string{"https://a.example.org/x", "https://a.example.org/", "http://b.other.org/"}, got)

	// Applied with a Probe's job: the target param, instance and prober address.
	p, err := monitor.DecodeProbe(object(t, "Probe", `{jobName: web, prober: {url: "bb:9115"}, targets: {ingress: {selector: {matchLabels: {app.kubernetes.io/name: shop}}}}}`))
	require.NoError(t, err)
	j, err := monitor.ProbeJob(p)
	require.NoError(t, err)
	out, _ := monitor.Apply([]monitor.Job{j}, pipeline.Targets(ts))
	require.Len(t, out, 3)
	require.Equal(t, model.LabelSet{
		"__address__": "bb:9115", "__param_target": "https://a.example.org/x", "instance": "https://a.example.org/x",
		"__tmp_ingress_address": "a.example.org", "__metrics_path__": "/probe", "__scheme__": "http", "job": "web",
		"__tmp_prometheus_job_name": "probe/ns/x", "namespace": "ns", "ingress": "x",
	}, withoutMeta(out[0]))
}

func withoutMeta(ls model.LabelSet) model.LabelSet {
	out := model.LabelSet{}
	for k, v := range ls {
		if !strings.HasPrefix(string(k), model.MetaLabelPrefix) {
			out[k] = v
		}
	}
	return out
}

func object(t *testing.T, kind, spec string) *unstructured.Unstructured {
	t.Helper()
	u := decode(t, "spec: "+indent(spec))
	u.SetKind(kind)
	u.SetNamespace("ns")
	u.SetName("x")
	return u
}

func indent(s string) string { return "\n  " + strings.ReplaceAll(s, "\n", "\n  ") }
