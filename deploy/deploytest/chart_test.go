package deploytest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// chartCase is one value combination of the chart, with what its rendering must hold
// beyond the checks every rendering passes (commonChecks).
type chartCase struct {
	name   string
	values string // values file, relative to deploy/deploytest; "" for the defaults
	check  func(t *testing.T, r rendered)
}

// chartCases are the main value combinations; the API server test applies each of them.
var chartCases = []chartCase{
	{name: "default", check: checkDefault},
	{name: "backends", values: "testdata/values/backends.yaml", check: checkBackends},
	{name: "gateway", values: "testdata/values/gateway.yaml", check: checkGateway},
	{name: "whole-config", values: "testdata/values/whole-config.yaml", check: checkWholeConfig},
	{name: "control-plane-off", values: "testdata/values/control-plane-off.yaml", check: checkControlPlaneOff},
	{name: "control-plane-only", values: "testdata/values/control-plane-only.yaml", check: checkControlPlaneOnly},
	{name: "servicemonitor", values: "testdata/values/servicemonitor.yaml", check: checkServiceMonitor},
	{name: "servicemonitor-collected", values: "testdata/values/servicemonitor-collected.yaml", check: checkServiceMonitorCollected},
	{name: "no-host-network", values: "testdata/values/no-host-network.yaml", check: checkNoHostNetwork},
	{name: "shared-root", values: "testdata/values/shared-root.yaml", check: checkSharedRoot},
	{name: "kind", values: "../kind/sonde-values.yaml", check: checkKind},
}

func (c chartCase) release(namespace string) release {
	return release{Name: "sonde", Namespace: namespace, ValuesFile: c.values}
}

// TestChart lints and renders every value combination, checks the objects, and validates
// the rendered sonde configuration with `sonde validate`.
func TestChart(t *testing.T) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			rel := c.release("observability")
			out, err := rel.lint(t)
			require.NoError(t, err)
			require.Contains(t, out, "0 chart(s) failed")
			r := render(t, rel)
			commonChecks(t, rel, r)
			c.check(t, r)
			validateConfig(t, r.config(t))
		})
	}
}

// commonChecks hold for every rendering: least privilege, hot reload, secrets by reference.
func commonChecks(t *testing.T, rel release, r rendered) {
	t.Helper()
	require.Empty(t, r.all("Secret", ""), "the chart never renders a Secret: credentials are referenced")
	for _, o := range r.Objects {
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
			require.Empty(t, o.GetNamespace(), "%s/%s", o.GetKind(), o.GetName())
		default:
			if o.GetKind() == "ConfigMap" && strings.Contains(o.GetName(), "-dashboard-") {
				continue // dashboards.namespace may differ
			}
			require.Equal(t, rel.Namespace, o.GetNamespace(), "%s/%s", o.GetKind(), o.GetName())
		}
	}

	w := r.workload(t)
	pod := nested(t, w.Object, "spec", "template").(map[string]any)
	// A config change must reach sonde as a file change, not as a rollout.
	for k := range podAnnotations(pod) {
		require.NotContains(t, k, "checksum", "a checksum annotation would restart the pods on every config change")
	}
	c := container(t, pod, "sonde")
	require.Contains(t, c["args"], "--config=/etc/sonde/config.yaml")
	require.Contains(t, c["args"], "--storage.path=/var/lib/sonde")
	mounts := volumeMounts(c)
	cfgMount := mounts["config"]
	require.Equal(t, "/etc/sonde", cfgMount["mountPath"])
	require.NotContains(t, cfgMount, "subPath", "a subPath mount never sees ConfigMap updates")
	require.Equal(t, "/var/lib/sonde", mounts["storage"]["mountPath"])
	require.Equal(t, map[string]any{"name": w.GetName()}, volumes(pod)["config"]["configMap"])

	env := envByName(c)
	// A name twice in env: later upgrades fail ("The order in patch list ... doesn't match
	// $setElementOrder list"), found on the real node with an extraEnv override.
	if items, _ := c["env"].([]any); len(items) != len(env) {
		t.Fatalf("the container's env repeats a name: %d entries, %d names", len(items), len(env))
	}
	for name, field := range map[string]string{
		"NODE_NAME": "spec.nodeName", "NODE_IP": "status.hostIP", "POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace",
	} {
		require.Equal(t, field, nested(t, env[name], "valueFrom", "fieldRef", "fieldPath"), name)
	}
	for name, e := range env {
		if strings.Contains(name, "PASSWORD") || strings.Contains(name, "TOKEN") || strings.Contains(name, "USERNAME") {
			require.NotContains(t, e, "value", "%s must come from a Secret", name)
			require.Contains(t, e["valueFrom"], "secretKeyRef", name)
		}
	}

	require.Equal(t, "/-/healthy", nested(t, c, "livenessProbe", "httpGet", "path"))
	require.Equal(t, "/-/ready", nested(t, c, "readinessProbe", "httpGet", "path"))
	require.Equal(t, "http", nested(t, c, "livenessProbe", "httpGet", "port"))
	require.NotEmpty(t, c["resources"])

	sc := c["securityContext"].(map[string]any)
	require.Equal(t, false, sc["allowPrivilegeEscalation"])
	require.Equal(t, true, sc["readOnlyRootFilesystem"])
	require.Equal(t, []any{"ALL"}, nested(t, sc, "capabilities", "drop"))
	require.NotContains(t, sc["capabilities"], "add")
	require.NotEqual(t, true, sc["privileged"])
	require.NotEqual(t, true, pod["spec"].(map[string]any)["hostPID"])
	require.NotEqual(t, true, pod["spec"].(map[string]any)["hostIPC"])
	require.Equal(t, "RuntimeDefault", nested(t, pod, "spec", "securityContext", "seccompProfile", "type"))
	if w.GetKind() == "Deployment" {
		require.Equal(t, true, nested(t, pod, "spec", "securityContext", "runAsNonRoot"))
		require.NotEqual(t, int64(0), nested(t, pod, "spec", "securityContext", "runAsUser"))
	}
	// Every hostPath is read-only, except the storage directory.
	for name, v := range volumes(pod) {
		if _, ok := v["hostPath"]; ok && name != "storage" {
			require.Equal(t, true, mounts[name]["readOnly"], "hostPath volume %s must be mounted read-only", name)
		}
	}
}

func checkDefault(t *testing.T, r rendered) {
	ds := r.get(t, "DaemonSet", "sonde")
	pod := nested(t, ds.Object, "spec", "template").(map[string]any)
	spec := pod["spec"].(map[string]any)
	require.Equal(t, true, spec["hostNetwork"])
	require.Equal(t, "ClusterFirstWithHostNet", spec["dnsPolicy"])
	require.Equal(t, "system-node-critical", spec["priorityClassName"])
	require.Equal(t, []any{map[string]any{"operator": "Exists"}}, spec["tolerations"])
	require.NotContains(t, spec, "affinity")
	require.Equal(t, "sonde", spec["serviceAccountName"])

	c := container(t, pod, "sonde")
	require.Equal(t, "prometheus", envByName(c)["SONDE_JOB_NAMES"]["value"], "kube-prometheus' job names")
	sc := c["securityContext"].(map[string]any)
	// The documented exception: user 0 (to read /var/log/pods and the pod-resources socket),
	// with no capabilities.
	require.Equal(t, int64(0), sc["runAsUser"])

	mounts := volumeMounts(c)
	vols := volumes(pod)
	for _, m := range []struct{ volume, host, mount string }{
		{"proc", "/proc", "/host/proc"},
		{"sys", "/sys", "/host/sys"},
		{"root", "/", "/host/root"},
		{"logs", "/var/log", "/var/log"},
		{"pod-resources", "/var/lib/kubelet/pod-resources", "/var/lib/kubelet/pod-resources"},
		{"storage", "/var/lib/sonde", "/var/lib/sonde"},
	} {
		require.Equal(t, m.host, nested(t, vols[m.volume], "hostPath", "path"), m.volume)
		require.Equal(t, m.mount, mounts[m.volume]["mountPath"], m.volume)
	}
	// No propagation: the pod starts on nodes whose / is a private mount too (HostToContainer
	// fails there with "not a shared or slave mount").
	require.Equal(t, "None", mounts["root"]["mountPropagation"])
	// GPUs through the NVIDIA container toolkit: NVML and the device nodes, no GPU request.
	env := envByName(c)
	require.Equal(t, "all", env["NVIDIA_VISIBLE_DEVICES"]["value"])
	require.Equal(t, "utility", env["NVIDIA_DRIVER_CAPABILITIES"]["value"])
	require.NotContains(t, fmt.Sprint(c["resources"]), "nvidia.com/gpu")
	require.NotContains(t, spec, "runtimeClassName")

	// discovery.shard counts exactly this release's DaemonSet pods as the agents.
	var cfg struct {
		Components map[string]map[string]any `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(r.config(t)), &cfg))
	shard := cfg.Components["discovery.shard/cluster"]
	require.NotNil(t, shard, "the daemonset preset shares cluster-wide targets out")
	sel, err := labels.Parse(shard["selector"].(string))
	require.NoError(t, err)
	require.True(t, sel.Matches(labels.Set(stringMap(nested(t, pod, "metadata", "labels")))), "the selector matches the DaemonSet's pods")
	gw := render(t, release{Name: "sonde", Namespace: "observability", ValuesFile: "testdata/values/gateway.yaml"})
	gwPod := nested(t, gw.workload(t).Object, "spec", "template", "metadata", "labels")
	require.False(t, sel.Matches(labels.Set(stringMap(gwPod))), "the selector does not match a gateway of the same name")

	svc := r.get(t, "Service", "sonde")
	require.Equal(t, "Local", nested(t, svc.Object, "spec", "internalTrafficPolicy"))
	require.ElementsMatch(t, []int64{4317, 4318, 12345}, servicePorts(svc))

	require.Len(t, r.all("ServiceAccount", "sonde"), 1)
	require.Len(t, r.all("ClusterRole", "sonde"), 1)
	crb := r.get(t, "ClusterRoleBinding", "sonde")
	require.Equal(t, "sonde", nested(t, crb.Object, "roleRef", "name"))
	require.Empty(t, r.all("ServiceMonitor", ""))
	require.Empty(t, r.all("Deployment", ""))
	require.Len(t, r.all("ConfigMap", ""), 1, "no dashboards by default")
}

func checkBackends(t *testing.T, r rendered) {
	cfg := r.config(t)
	require.Contains(t, cfg, "url: http://prometheus.monitoring.svc:9090/api/v1/write")
	require.Contains(t, cfg, "url: https://loki.example.com/loki/api/v1/push")
	require.Contains(t, cfg, "${SONDE_PROMETHEUS_PASSWORD}")
	require.Contains(t, cfg, "${SONDE_LOKI_BEARER_TOKEN}")
	require.Contains(t, cfg, "tenant_id: team-a")
	require.Contains(t, cfg, "scrape_interval: 30s")
	require.NotContains(t, cfg, "prometheus.exporter.gpu/gpu", "config.remove drops the component and the references to it")

	c := container(t, nested(t, r.workload(t).Object, "spec", "template").(map[string]any), "sonde")
	env := envByName(c)
	ref := func(name string) map[string]any {
		return nested(t, env[name], "valueFrom", "secretKeyRef").(map[string]any)
	}
	require.Equal(t, map[string]any{"name": "prometheus-credentials", "key": "username"}, ref("SONDE_PROMETHEUS_USERNAME"))
	require.Equal(t, map[string]any{"name": "prometheus-credentials", "key": "password"}, ref("SONDE_PROMETHEUS_PASSWORD"))
	require.Equal(t, map[string]any{"name": "loki-token", "key": "api-token"}, ref("SONDE_LOKI_BEARER_TOKEN"))
	require.Equal(t, "tempo.monitoring.svc:4317", env["SONDE_OTLP_ENDPOINT"]["value"])
	require.Equal(t, "$(NODE_IP):4318", env["SONDE_OTLP_HTTP_LISTEN"]["value"], "extraEnv replaces the chart's variable")
	require.Equal(t, "1", env["EXTRA"]["value"])
	require.Contains(t, cfg, "otelcol.exporter.otlp/default", "traces are forwarded to otlp.endpoint")
	require.NotContains(t, cfg, ".invalid", "every placeholder is replaced")
}

func checkGateway(t *testing.T, r rendered) {
	require.Empty(t, r.all("DaemonSet", ""))
	require.Empty(t, r.all("ClusterRole", ""), "the gateway needs no Kubernetes API access")
	require.Empty(t, r.all("ClusterRoleBinding", ""))
	d := r.get(t, "Deployment", "sonde")
	require.Equal(t, int64(3), nested(t, d.Object, "spec", "replicas"))
	pod := nested(t, d.Object, "spec", "template").(map[string]any)
	spec := pod["spec"].(map[string]any)
	require.Equal(t, false, spec["automountServiceAccountToken"])
	env := envByName(container(t, pod, "sonde"))
	require.Equal(t, "0.0.0.0:4317", env["SONDE_OTLP_GRPC_LISTEN"]["value"], "the sidecar preset alone listens on 127.0.0.1")
	require.Equal(t, "0.0.0.0:4318", env["SONDE_OTLP_HTTP_LISTEN"]["value"])
	require.Contains(t, r.config(t), `endpoint: "http://tempo.monitoring.svc:4317"`)
	require.NotContains(t, envByName(container(t, pod, "sonde")), "NVIDIA_VISIBLE_DEVICES")
	require.NotContains(t, spec, "hostNetwork")
	for name, v := range volumes(pod) {
		require.NotContains(t, v, "hostPath", "volume %s", name)
	}
	svc := r.get(t, "Service", "sonde")
	require.NotContains(t, svc.Object["spec"], "internalTrafficPolicy")
	require.ElementsMatch(t, []int64{4317, 4318, 12345}, servicePorts(svc))
	require.Len(t, r.all("PodDisruptionBudget", "sonde"), 1)
}

func checkWholeConfig(t *testing.T, r rendered) {
	cfg := r.config(t)
	require.Equal(t, strings.TrimSpace(readTestdata(t, "values/whole-config.yaml", "config", "content")), strings.TrimSpace(cfg))
	c := container(t, nested(t, r.workload(t).Object, "spec", "template").(map[string]any), "sonde")
	require.Contains(t, envByName(c), "SONDE_PROMETHEUS_PASSWORD")
}

func checkControlPlaneOff(t *testing.T, r rendered) {
	spec := nested(t, r.get(t, "DaemonSet", "sonde").Object, "spec", "template", "spec").(map[string]any)
	require.Equal(t, []any{map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}}, spec["tolerations"])
	terms := nested(t, spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	require.Equal(t, []any{map[string]any{"matchExpressions": []any{map[string]any{
		"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist",
	}}}}, terms)
}

func checkControlPlaneOnly(t *testing.T, r rendered) {
	spec := nested(t, r.get(t, "DaemonSet", "sonde").Object, "spec", "template", "spec").(map[string]any)
	require.Equal(t, []any{map[string]any{
		"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule",
	}}, spec["tolerations"])
	require.NotContains(t, spec, "affinity")
}

func checkServiceMonitor(t *testing.T, r rendered) {
	sm := r.get(t, "ServiceMonitor", "sonde")
	require.Equal(t, "monitoring.coreos.com/v1", sm.GetAPIVersion())
	require.Equal(t, "kube-prometheus-stack", sm.GetLabels()["release"])
	svc := r.get(t, "Service", "sonde")
	sel := nested(t, sm.Object, "spec", "selector", "matchLabels").(map[string]any)
	for k, v := range sel {
		require.Equal(t, v, svc.GetLabels()[k], "the ServiceMonitor selects the Service by %s", k)
	}
	eps := nested(t, sm.Object, "spec", "endpoints").([]any)
	require.Len(t, eps, 1)
	ep := eps[0].(map[string]any)
	require.Equal(t, "http", ep["port"])
	require.Equal(t, "/metrics", ep["path"])
	require.NotContains(t, ep, "honorLabels", "sonde's own series carry no job or instance to honour")

	dashboards := dashboardFiles(t)
	var cms []*unstructured.Unstructured
	for _, cm := range r.all("ConfigMap", "") {
		if cm.GetLabels()["grafana_dashboard"] == "1" {
			cms = append(cms, cm)
		}
	}
	require.Len(t, cms, len(dashboards), "one ConfigMap per dashboard")
	for _, cm := range cms {
		require.Equal(t, "monitoring", cm.GetNamespace())
		data := cm.Object["data"].(map[string]any)
		require.Len(t, data, 1)
		for file, content := range data {
			want, ok := dashboards[file]
			require.True(t, ok, "ConfigMap %s holds %s, which deploy/dashboards does not", cm.GetName(), file)
			require.JSONEq(t, want, content.(string))
		}
	}
}

func checkNoHostNetwork(t *testing.T, r rendered) {
	pod := nested(t, r.get(t, "DaemonSet", "sonde").Object, "spec", "template").(map[string]any)
	spec := pod["spec"].(map[string]any)
	require.NotContains(t, spec, "hostNetwork")
	require.NotContains(t, spec, "dnsPolicy")
	vols := volumes(pod)
	require.Contains(t, vols["storage"], "emptyDir")
	require.Equal(t, "/var/lib/docker/containers", nested(t, vols["docker-containers"], "hostPath", "path"))
	require.Equal(t, "/var/lib/docker/containers", volumeMounts(container(t, pod, "sonde"))["docker-containers"]["mountPath"])
}

// checkSharedRoot: nodes with a shared / may choose HostToContainer for the host root.
func checkSharedRoot(t *testing.T, r rendered) {
	pod := nested(t, r.get(t, "DaemonSet", "sonde").Object, "spec", "template").(map[string]any)
	mounts := volumeMounts(container(t, pod, "sonde"))
	require.Equal(t, "HostToContainer", mounts["root"]["mountPropagation"])
	require.Equal(t, true, mounts["root"]["readOnly"])
}

// checkServiceMonitorCollected: without a remote-write URL the ServiceMonitor pulls what
// the agents collect from prometheus.serve/local, honouring the series' labels and adding
// none of the operator's pod labels; the agents name the jobs as k8s-monitoring does.
func checkServiceMonitorCollected(t *testing.T, r rendered) {
	sm := r.get(t, "ServiceMonitor", "sonde")
	eps := nested(t, sm.Object, "spec", "endpoints").([]any)
	require.Len(t, eps, 1)
	ep := eps[0].(map[string]any)
	require.Equal(t, "http", ep["port"])
	require.Equal(t, true, ep["honorLabels"])
	require.Equal(t, []any{map[string]any{"action": "labeldrop", "regex": "(namespace|pod|service|container|endpoint)"}}, ep["relabelings"])
	// The path the preset serves the collected samples at.
	cfg := r.config(t)
	require.Contains(t, cfg, "  prometheus.serve/local: {}\n")
	require.Equal(t, "/api/v1/components/prometheus.serve/local/metrics", ep["path"])

	pod := nested(t, r.get(t, "DaemonSet", "sonde").Object, "spec", "template").(map[string]any)
	require.Equal(t, "alloy", envByName(container(t, pod, "sonde"))["SONDE_JOB_NAMES"]["value"])
	require.Contains(t, cfg, `"${SONDE_JOB_NAMES:-prometheus}"`, "the preset names the jobs from the variable")
}

// TestChartRejectsBadValues: mistakes fail the rendering with a message naming the value.
func TestChartRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		name string
		set  []string
		want string
	}{
		{"unknown mode", []string{"mode=sidecar"}, "mode: want daemonset or gateway"},
		{"URL without scheme", []string{"prometheus.url=prometheus:9090"}, "prometheus.url"},
		{"two kinds of credentials", []string{"prometheus.url=http://p:9090", "prometheus.basicAuth.existingSecret=a", "prometheus.bearerToken.existingSecret=b"}, "not both"},
		{"credentials without URL", []string{"loki.basicAuth.existingSecret=a"}, "loki.url is empty"},
		{"unknown preset", []string{"config.preset=laptop"}, "config.preset"},
		{"removing what the preset lacks", []string{"config.remove[0]=prometheus.exporter.nothing/x"}, "config.remove"},
		{"gateway without an OTLP endpoint", []string{"mode=gateway"}, "set otlp.endpoint"},
		{"OTLP endpoint with a bad scheme", []string{"otlp.endpoint=grpc://tempo:4317"}, "otlp.endpoint"},
		{"bidirectional host root", []string{"daemonset.hostRootMountPropagation=Bidirectional"}, "daemonset.hostRootMountPropagation"},
		{"unknown propagation", []string{"daemonset.hostRootMountPropagation=shared"}, "daemonset.hostRootMountPropagation"},
		{"unknown job names", []string{"jobNames=grafana"}, `jobNames: want prometheus or alloy, got "grafana"`},
		{"unknown OTLP protocol", []string{"otlp.endpoint=tempo:4318", "otlp.protocol=http/json"}, `otlp.protocol: want grpc or http/protobuf, got "http/json"`},
		{"unknown ServiceMonitor scrape", []string{"serviceMonitor.scrape=all"}, "serviceMonitor.scrape: want self or collected"},
		{"collected data that is remote-written", []string{"serviceMonitor.enabled=true", "serviceMonitor.scrape=collected", "prometheus.url=http://p:9090"},
			"serviceMonitor.scrape: collected is served for pull only without prometheus.url"},
		{"collected data of a gateway", []string{"mode=gateway", "otlp.endpoint=tempo:4317", "serviceMonitor.enabled=true", "serviceMonitor.scrape=collected"},
			"serviceMonitor.scrape: collected needs mode daemonset"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := release{Name: "sonde", Namespace: "sonde", Set: c.set}.template(t)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func podAnnotations(pod map[string]any) map[string]any {
	md, _ := pod["metadata"].(map[string]any)
	a, _ := md["annotations"].(map[string]any)
	return a
}

func container(t testing.TB, pod map[string]any, name string) map[string]any {
	t.Helper()
	for _, c := range nested(t, pod, "spec", "containers").([]any) {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func byName(list any) map[string]map[string]any {
	out := map[string]map[string]any{}
	items, _ := list.([]any)
	for _, it := range items {
		m := it.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

func volumeMounts(c map[string]any) map[string]map[string]any { return byName(c["volumeMounts"]) }
func envByName(c map[string]any) map[string]map[string]any    { return byName(c["env"]) }

func volumes(pod map[string]any) map[string]map[string]any {
	spec, _ := pod["spec"].(map[string]any)
	return byName(spec["volumes"])
}

func servicePorts(svc *unstructured.Unstructured) []int64 {
	var out []int64
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	for _, p := range ports {
		out = append(out, p.(map[string]any)["port"].(int64))
	}
	return out
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	for k, v := range v.(map[string]any) {
		out[k] = v.(string)
	}
	return out
}
