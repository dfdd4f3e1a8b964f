package deploytest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChartConfigIsPreset: without overrides, the chart's ConfigMap holds exactly what
// `sonde config show --preset daemonset` prints for the same backends and static targets
// (plus the selector that keeps discovery.shard to this release's DaemonSet pods), so
// the chart and the binary's built-in preset cannot drift apart (the chart fills in
// renderings of the preset by sonde itself; TestGenerated keeps them current).
func TestChartConfigIsPreset(t *testing.T) {
	for _, c := range []struct {
		name       string
		prometheus string
		loki       string
		static     []string
		otlp       string
	}{
		{name: "no backends"},
		{name: "Prometheus only", prometheus: "http://prometheus.monitoring.svc:9090"},
		{name: "Loki only", loki: "http://loki.monitoring.svc:3100/"},
		{name: "both", prometheus: "https://prometheus.example.com", loki: "https://loki.example.com:443"},
		{name: "Mimir path kept", prometheus: "https://mimir.example.com/api/v1/push", loki: "http://loki:3100/custom/push"},
		{name: "query string kept", prometheus: "http://prometheus:9090/api/v1/write?tenant=a"},
		{name: "static targets", prometheus: "http://prometheus:9090", static: []string{"argo-rollouts-metrics.argo-rollouts.svc:8090"}},
		{name: "two static targets", static: []string{"a.b.svc:8080", "10.0.0.7:9100"}},
		{name: "OTLP host:port", otlp: "tempo.monitoring.svc:4317"},
		{name: "OTLP URL and everything", prometheus: "http://p:9090", loki: "http://l:3100", static: []string{"x:1"}, otlp: "https://otlp.example.com:443"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"config", "show", "--preset", "daemonset"}
			rel := release{Name: "sonde", Namespace: "sonde"}
			if c.prometheus != "" {
				args = append(args, "--prometheus-url", c.prometheus)
				rel.Set = append(rel.Set, "prometheus.url="+c.prometheus)
			}
			if c.loki != "" {
				args = append(args, "--loki-url", c.loki)
				rel.Set = append(rel.Set, "loki.url="+c.loki)
			}
			if len(c.static) > 0 {
				args = append(args, "--static-targets", strings.Join(c.static, ","))
				rel.Set = append(rel.Set, "staticTargets={"+strings.Join(c.static, ",")+"}")
			}
			if c.otlp != "" {
				args = append(args, "--otlp-endpoint", c.otlp)
				rel.Set = append(rel.Set, "otlp.endpoint="+c.otlp)
			}
			want, err := sonde(t, args...)
			require.NoError(t, err)
			got := render(t, rel).config(t)
			require.Equal(t, withShardSelector(want, "app.kubernetes.io/component=daemonset,app.kubernetes.io/instance=sonde,app.kubernetes.io/name=sonde"), got)
			validateConfig(t, got)
		})
	}
}

var shardRe = regexp.MustCompile(`(?m)^(  discovery\.shard/[^:\s]+:)\n`)

// withShardSelector is cfg with the selector the chart gives every discovery.shard
// component of the preset.
func withShardSelector(cfg, selector string) string {
	return shardRe.ReplaceAllString(cfg, "${1}\n    # This release's DaemonSet pods (the chart's selector labels).\n    selector: "+selector+"\n")
}

// TestChartGatewayConfigIsSidecarPreset: the gateway runs exactly the sidecar preset.
func TestChartGatewayConfigIsSidecarPreset(t *testing.T) {
	for _, endpoint := range []string{"tempo.monitoring.svc:4317", "https://otlp.example.com"} {
		t.Run(endpoint, func(t *testing.T) {
			want, err := sonde(t, "config", "show", "--preset", "sidecar", "--otlp-endpoint", endpoint)
			require.NoError(t, err)
			rel := release{Name: "sonde", Namespace: "sonde", Set: []string{"mode=gateway", "otlp.endpoint=" + endpoint}}
			got := render(t, rel).config(t)
			require.Equal(t, want, got)
			validateConfig(t, got)
		})
	}
}
