package config

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/discovery/kubernetes/rules"
	discoveryrelabel "github.com/sondehq/sonde/discovery/relabel"
	"github.com/sondehq/sonde/pipeline"
)

// presetComponents renders preset name, expands it with NODE_NAME=node and returns its
// components' YAML by id.
func presetComponents(t *testing.T, name, node string) map[string]yaml.Node {
	t.Helper()
	return presetComponentsWith(t, name, PresetData{}, node)
}

// presetComponentsWith is presetComponents with the preset's data.
func presetComponentsWith(t *testing.T, name string, data PresetData, node string) map[string]yaml.Node {
	t.Helper()
	y, err := RenderPreset(name, data)
	require.NoError(t, err)
	expanded, err := Expand(string(y), func(v string) (string, bool) {
		switch v {
		case "NODE_NAME":
			return node, true
		case "POD_NAMESPACE":
			return "monitoring", true
		case "POD_NAME":
			return "sonde-x7k2p", true
		}
		return "", false
	})
	require.NoError(t, err)
	var doc struct {
		Components map[string]yaml.Node `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(expanded), &doc))
	return doc.Components
}

// exporterTargets are the targets the host exporters publish (instance: the host name).
var exporterTargets = pipeline.Targets{
	{"__address__": "127.0.0.1:12345", "__metrics_path__": "/api/v1/components/prometheus.exporter.unix/host/metrics", "job": "node-exporter", "instance": "sonde-x7k2p"},
	{"__address__": "127.0.0.1:12345", "__metrics_path__": "/api/v1/components/prometheus.exporter.gpu/gpu/metrics", "job": "dcgm-exporter", "instance": "sonde-x7k2p"},
	{"__address__": "127.0.0.1:12345", "__metrics_path__": "/metrics", "job": "sonde", "instance": "sonde-x7k2p"},
}

// TestDaemonsetHostSeriesNodeLabels: in the daemonset preset, the host, GPU and sonde
// targets carry instance and node = the node's name, exactly as the kubelet and cAdvisor
// targets do, so that their series join; the host preset keeps the host name.
func TestDaemonsetHostSeriesNodeLabels(t *testing.T) {
	const node = "ip-10-0-1-17.eu-west-1.compute.internal"
	comps := presetComponents(t, "daemonset", node)

	var scrape struct {
		Targets []string `yaml:"targets"`
	}
	n := comps["prometheus.scrape/host"]
	require.NoError(t, n.Decode(&scrape))
	require.Equal(t, []string{"discovery.relabel/host"}, scrape.Targets, "every host target goes through the relabelling")

	var host struct {
		Targets []string          `yaml:"targets"`
		Rules   []*relabel.Config `yaml:"rules"`
	}
	n = comps["discovery.relabel/host"]
	require.NoError(t, n.Decode(&host))
	require.ElementsMatch(t, []string{"prometheus.exporter.unix/host", "prometheus.exporter.gpu/gpu", "prometheus.exporter.self/sonde"}, host.Targets)
	for _, r := range host.Rules {
		require.NoError(t, r.Validate(model.UTF8Validation)) // as the component does
	}
	got := discoveryrelabel.Process(exporterTargets, host.Rules)
	require.Len(t, got, len(exporterTargets))
	for i, tg := range got {
		require.Equal(t, model.LabelValue(node), tg["instance"], tg)
		require.Equal(t, model.LabelValue(node), tg["node"], tg)
		require.Equal(t, exporterTargets[i]["job"], tg["job"])
		require.Equal(t, exporterTargets[i]["__metrics_path__"], tg["__metrics_path__"])
		// No pod or namespace label: a host series keeps its identity when the agent pod is
		// replaced (a new pod name would leave the old series next to the new one for the
		// 5-minute lookback after every restart: `on (instance)` joins fail meanwhile).
		require.NotContains(t, tg, model.LabelName("namespace"), tg)
		require.NotContains(t, tg, model.LabelName("pod"), tg)
	}

	// The kubelet's and cAdvisor's targets: the same instance and node.
	for _, set := range []string{"kubelet-cadvisor", "kubelet", "kubelet-resource"} {
		rs, err := rules.Load(set)
		require.NoError(t, err)
		kt := discoveryrelabel.Process(pipeline.Targets{{"__address__": "10.0.1.17:10250", "__meta_kubernetes_node_name": model.LabelValue(node)}}, rs)
		require.Len(t, kt, 1, set)
		require.Equal(t, model.LabelValue(node), kt[0]["instance"], set)
		require.Equal(t, model.LabelValue(node), kt[0]["node"], set)
	}

	// Without Kubernetes the exporters' own instance (the host name) stays.
	comps = presetComponents(t, "host", node)
	require.NotContains(t, comps, "discovery.relabel/host")
	n = comps["prometheus.scrape/host"]
	require.NoError(t, n.Decode(&scrape))
	require.ElementsMatch(t, host.Targets, scrape.Targets)
}

// presetComponent is what TestPresetKubeStateMetrics reads of a component.
type presetComponent struct {
	Targets     []string          `yaml:"targets"`
	Rules       []*relabel.Config `yaml:"rules"`
	HonorLabels bool              `yaml:"honor_labels"`
}

// TestPresetKubeStateMetrics: kube-state-metrics found by its pod annotations (on this node)
// or its Service is scraped with honor_labels: true, job="kube-state-metrics" and none of its
// own namespace/pod/container/node/service target labels, exactly once; another annotated pod
// keeps its labels and its scrape (without honor_labels). In both Kubernetes presets.
func TestPresetKubeStateMetrics(t *testing.T) {
	const node = "node-b"
	ksmPod := model.LabelSet{
		"__address__":                                           "10.1.9.9:8080",
		"__meta_kubernetes_namespace":                           "kube-system",
		"__meta_kubernetes_pod_name":                            "kube-state-metrics-6c9d",
		"__meta_kubernetes_pod_ip":                              "10.1.9.9",
		"__meta_kubernetes_pod_node_name":                       node,
		"__meta_kubernetes_pod_phase":                           "Running",
		"__meta_kubernetes_pod_container_name":                  "kube-state-metrics",
		"__meta_kubernetes_pod_container_init":                  "false",
		"__meta_kubernetes_pod_container_port_number":           "8080",
		"__meta_kubernetes_pod_label_app_kubernetes_io_name":    "kube-state-metrics",
		"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
		"__meta_kubernetes_pod_annotation_prometheus_io_port":   "8080",
		"__meta_sonde_pod_annotated_port_target":                "true",
	}
	demoPod := model.LabelSet{}
	for k, v := range ksmPod {
		demoPod[k] = v
	}
	demoPod["__meta_kubernetes_namespace"] = "shop"
	demoPod["__meta_kubernetes_pod_name"] = "demo-5f7b"
	demoPod["__meta_kubernetes_pod_container_name"] = "demo"
	demoPod["__meta_kubernetes_pod_label_app_kubernetes_io_name"] = "demo"
	ksmSvc := model.LabelSet{
		"__address__":                                               "kube-state-metrics.kube-system.svc:8080",
		"__meta_kubernetes_namespace":                               "kube-system",
		"__meta_kubernetes_service_name":                            "kube-state-metrics",
		"__meta_kubernetes_service_port_number":                     "8080",
		"__meta_kubernetes_service_label_app_kubernetes_io_name":    "kube-state-metrics",
		"__meta_kubernetes_service_annotation_prometheus_io_scrape": "true",
	}
	data := PresetData{Kubeconfig: "/home/me/.kube/config", APIServer: "https://127.0.0.1:6443"}
	for _, tc := range []struct {
		preset                 string
		ksmPodWant, ksmSvcWant model.LabelSet
		demoPodWant            model.LabelSet
		servicesScrapedBy      string
	}{
		{
			preset:      "daemonset",
			ksmPodWant:  model.LabelSet{"__address__": "10.1.9.9:8080", "job": "kube-state-metrics"},
			ksmSvcWant:  model.LabelSet{"__address__": "kube-state-metrics.kube-system.svc:8080", "job": "kube-state-metrics"},
			demoPodWant: model.LabelSet{"__address__": "10.1.9.9:8080", "job": "demo", "namespace": "shop", "pod": "demo-5f7b", "container": "demo", "node": node},
			// Through discovery.shard/cluster.
			servicesScrapedBy: "discovery.shard/cluster",
		},
		{
			preset: "cluster-local",
			ksmPodWant: model.LabelSet{"__address__": "127.0.0.1:6443", "__scheme__": "https", "instance": "10.1.9.9:8080", "job": "kube-state-metrics",
				"__metrics_path__": "/api/v1/namespaces/kube-system/pods/kube-state-metrics-6c9d:8080/proxy/metrics"},
			ksmSvcWant: model.LabelSet{"__address__": "127.0.0.1:6443", "__scheme__": "https", "instance": "kube-state-metrics.kube-system.svc:8080", "job": "kube-state-metrics",
				"__metrics_path__": "/api/v1/namespaces/kube-system/services/kube-state-metrics:8080/proxy/metrics"},
			demoPodWant: model.LabelSet{"__address__": "127.0.0.1:6443", "__scheme__": "https", "instance": "10.1.9.9:8080", "job": "demo",
				"namespace": "shop", "pod": "demo-5f7b", "container": "demo", "node": node,
				"__metrics_path__": "/api/v1/namespaces/shop/pods/demo-5f7b:8080/proxy/metrics"},
			servicesScrapedBy: "discovery.relabel/annotated_services",
		},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			comps := presetComponentsWith(t, tc.preset, data, node)
			get := func(id string) presetComponent {
				t.Helper()
				n, ok := comps[id]
				require.True(t, ok, id)
				var c presetComponent
				require.NoError(t, n.Decode(&c), id)
				for _, r := range c.Rules {
					require.NoError(t, r.Validate(model.UTF8Validation), id) // as the component does
				}
				return c
			}
			// The targets the scrape gets, less the __meta_ labels it drops.
			relabelled := func(id string, in model.LabelSet) pipeline.Targets {
				out := discoveryrelabel.Process(pipeline.Targets{in}, get(id).Rules)
				for _, tg := range out {
					for k := range tg {
						if strings.HasPrefix(string(k), model.MetaLabelPrefix) {
							delete(tg, k)
						}
					}
				}
				return out
			}
			// The pod: only in kube_state_metrics, scraped with honor_labels.
			require.Empty(t, relabelled("discovery.relabel/annotated_pods", ksmPod), "scraped twice")
			require.Equal(t, pipeline.Targets{tc.ksmPodWant}, relabelled("discovery.relabel/kube_state_metrics", ksmPod))
			scrape := get("prometheus.scrape/kube_state_metrics")
			require.Equal(t, []string{"discovery.relabel/kube_state_metrics"}, scrape.Targets)
			require.True(t, scrape.HonorLabels)
			// Another annotated pod: as before.
			require.Empty(t, relabelled("discovery.relabel/kube_state_metrics", demoPod))
			require.Equal(t, pipeline.Targets{tc.demoPodWant}, relabelled("discovery.relabel/annotated_pods", demoPod))
			scrape = get("prometheus.scrape/pods")
			require.Equal(t, []string{"discovery.relabel/annotated_pods"}, scrape.Targets)
			require.False(t, scrape.HonorLabels)
			// The Service: job kube-state-metrics, no namespace/service, honor_labels.
			require.Equal(t, pipeline.Targets{tc.ksmSvcWant}, relabelled("discovery.relabel/annotated_services", ksmSvc))
			scrape = get("prometheus.scrape/cluster")
			require.Equal(t, []string{tc.servicesScrapedBy}, scrape.Targets)
			require.True(t, scrape.HonorLabels)
		})
	}
}
