package config

import (
	"slices"
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

// presetComponentsWith is presetComponents with the preset's data, and env, when given, as
// more of the environment.
func presetComponentsWith(t *testing.T, name string, data PresetData, node string, env ...map[string]string) map[string]yaml.Node {
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
		for _, e := range env {
			if val, ok := e[v]; ok {
				return val, true
			}
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

// presetComponent is what the tests read of a component.
type presetComponent struct {
	Targets     []string          `yaml:"targets"`
	Rules       []*relabel.Config `yaml:"rules"`
	HonorLabels bool              `yaml:"honor_labels"`
}

// scrapeOf is a target as a prometheus.scrape of the preset gets it.
type scrapeOf struct {
	Target      model.LabelSet // less the __meta_ labels, which the scrape drops
	HonorLabels bool
}

// scrapesOf follows target, published by the discovery component from, through the preset's
// discovery.relabel and discovery.shard components (this agent owning every shared target) to
// the prometheus.scrape components it reaches: what each of them gets, by id.
func scrapesOf(t *testing.T, comps map[string]yaml.Node, from string, target model.LabelSet) map[string][]scrapeOf {
	t.Helper()
	decoded := map[string]presetComponent{}
	for id, n := range comps {
		if !strings.HasPrefix(id, "discovery.relabel/") && !strings.HasPrefix(id, "discovery.shard/") && !strings.HasPrefix(id, "prometheus.scrape/") {
			continue
		}
		var c presetComponent
		require.NoError(t, n.Decode(&c), id)
		for _, r := range c.Rules {
			require.NoError(t, r.Validate(model.UTF8Validation), id) // as the component does
		}
		decoded[id] = c
	}
	out := map[string][]scrapeOf{}
	var follow func(id string, tg pipeline.Targets)
	follow = func(id string, tg pipeline.Targets) {
		for next, c := range decoded {
			if !slices.Contains(c.Targets, id) {
				continue
			}
			switch {
			case strings.HasPrefix(next, "discovery.relabel/"):
				if got := discoveryrelabel.Process(tg, c.Rules); len(got) > 0 {
					follow(next, got)
				}
			case strings.HasPrefix(next, "discovery.shard/"):
				follow(next, tg)
			default:
				for _, target := range tg {
					kept := model.LabelSet{}
					for k, v := range target {
						if !strings.HasPrefix(string(k), model.MetaLabelPrefix) {
							kept[k] = v
						}
					}
					out[next] = append(out[next], scrapeOf{Target: kept, HonorLabels: c.HonorLabels})
				}
			}
		}
	}
	follow(from, pipeline.Targets{target})
	return out
}

// clone returns a copy of ls with the labels of sets added or replaced.
func clone(ls model.LabelSet, sets ...model.LabelSet) model.LabelSet {
	out := ls.Clone()
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// Discovered targets the preset tests follow: kube-state-metrics as its chart deploys it
// (pod and Service), and a demo pod and Service.
var (
	ksmPodTarget = model.LabelSet{
		"__address__":                                           "10.1.9.9:8080",
		"__meta_kubernetes_namespace":                           "kube-system",
		"__meta_kubernetes_pod_name":                            "kube-state-metrics-6c9d",
		"__meta_kubernetes_pod_ip":                              "10.1.9.9",
		"__meta_kubernetes_pod_node_name":                       "node-b",
		"__meta_kubernetes_pod_phase":                           "Running",
		"__meta_kubernetes_pod_container_name":                  "kube-state-metrics",
		"__meta_kubernetes_pod_container_init":                  "false",
		"__meta_kubernetes_pod_container_port_number":           "8080",
		"__meta_kubernetes_pod_label_app_kubernetes_io_name":    "kube-state-metrics",
		"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
		"__meta_kubernetes_pod_annotation_prometheus_io_port":   "8080",
		"__meta_sonde_pod_annotated_port_target":                "true",
	}
	demoPodTarget = clone(ksmPodTarget, model.LabelSet{
		"__meta_kubernetes_namespace":                        "shop",
		"__meta_kubernetes_pod_name":                         "demo-5f7b",
		"__meta_kubernetes_pod_container_name":               "demo",
		"__meta_kubernetes_pod_label_app_kubernetes_io_name": "demo",
	})
	ksmSvcTarget = model.LabelSet{
		"__address__":                                               "kube-state-metrics.kube-system.svc:8080",
		"__meta_kubernetes_namespace":                               "kube-system",
		"__meta_kubernetes_service_name":                            "kube-state-metrics",
		"__meta_kubernetes_service_port_number":                     "8080",
		"__meta_kubernetes_service_label_app_kubernetes_io_name":    "kube-state-metrics",
		"__meta_kubernetes_service_annotation_prometheus_io_scrape": "true",
	}
	demoSvcTarget = clone(ksmSvcTarget, model.LabelSet{
		"__address__":                                            "demo.shop.svc:8080",
		"__meta_kubernetes_namespace":                            "shop",
		"__meta_kubernetes_service_name":                         "demo",
		"__meta_kubernetes_service_label_app_kubernetes_io_name": "demo",
	})
	podHonors = model.LabelSet{"__meta_kubernetes_pod_annotation_prometheus_io_honor_labels": "true"}
	svcHonors = model.LabelSet{"__meta_kubernetes_service_annotation_prometheus_io_honor_labels": "true"}
)

// TestPresetHonorLabels: in both Kubernetes presets, each annotated pod and Service reaches
// exactly one scrape. kube-state-metrics, found by its pod annotations (on this node) or its
// Service, is scraped with honor_labels: true, job="kube-state-metrics" (whatever its Service
// is named) and none of its own namespace/pod/container/node/service target labels; a pod or
// Service annotated prometheus.io/honor-labels: "true" is scraped with honor_labels and its
// usual target labels; any other keeps its labels and a scrape without honor_labels.
func TestPresetHonorLabels(t *testing.T) {
	const node = "node-b"
	data := PresetData{Kubeconfig: "/home/me/.kube/config", APIServer: "https://127.0.0.1:6443", StaticTargets: []string{"argo-rollouts-metrics.argo-rollouts.svc:8090"}}
	demoPodLabels := model.LabelSet{"job": "demo", "namespace": "shop", "pod": "demo-5f7b", "container": "demo", "node": node}
	demoSvcLabels := model.LabelSet{"job": "demo", "namespace": "shop", "service": "demo"}
	renamedKSMSvc := clone(ksmSvcTarget, model.LabelSet{"__meta_kubernetes_service_name": "prom-kube-state-metrics"})
	type want map[string][]scrapeOf
	for _, tc := range []struct {
		preset string
		// addressed gives a target's address labels in the preset: direct, or through the
		// API server's proxy (cluster-local).
		podAddr, svcAddr   func(ns, name, addr string) model.LabelSet
		pods, services     string // the discovery components
		servicesViaShard   bool
		staticTargetScrape string
	}{
		{
			preset:  "daemonset",
			podAddr: func(_, _, addr string) model.LabelSet { return model.LabelSet{"__address__": model.LabelValue(addr)} },
			svcAddr: func(_, _, addr string) model.LabelSet { return model.LabelSet{"__address__": model.LabelValue(addr)} },
			pods:    "discovery.kubernetes/pods", services: "discovery.kubernetes/services",
			staticTargetScrape: "prometheus.scrape/cluster",
		},
		{
			preset: "cluster-local",
			podAddr: func(ns, name, addr string) model.LabelSet {
				_, port, _ := strings.Cut(addr, ":")
				return model.LabelSet{"__address__": "127.0.0.1:6443", "__scheme__": "https", "instance": model.LabelValue(addr),
					"__metrics_path__": model.LabelValue("/api/v1/namespaces/" + ns + "/pods/" + name + ":" + port + "/proxy/metrics")}
			},
			svcAddr: func(ns, name, addr string) model.LabelSet {
				_, port, _ := strings.Cut(addr, ":")
				return model.LabelSet{"__address__": "127.0.0.1:6443", "__scheme__": "https", "instance": model.LabelValue(addr),
					"__metrics_path__": model.LabelValue("/api/v1/namespaces/" + ns + "/services/" + name + ":" + port + "/proxy/metrics")}
			},
			pods: "discovery.kubernetes/pods", services: "discovery.kubernetes/services",
		},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			comps := presetComponentsWith(t, tc.preset, data, node)
			ksm := model.LabelSet{"job": "kube-state-metrics"}
			for _, c := range []struct {
				name string
				from string
				in   model.LabelSet
				want want
			}{
				{"kube-state-metrics pod", tc.pods, ksmPodTarget, want{
					"prometheus.scrape/kube_state_metrics": {{clone(ksm, tc.podAddr("kube-system", "kube-state-metrics-6c9d", "10.1.9.9:8080")), true}}}},
				{"kube-state-metrics pod, honor-labels annotation", tc.pods, clone(ksmPodTarget, podHonors), want{
					"prometheus.scrape/kube_state_metrics": {{clone(ksm, tc.podAddr("kube-system", "kube-state-metrics-6c9d", "10.1.9.9:8080")), true}}}},
				{"demo pod", tc.pods, demoPodTarget, want{
					"prometheus.scrape/pods": {{clone(demoPodLabels, tc.podAddr("shop", "demo-5f7b", "10.1.9.9:8080")), false}}}},
				{"demo pod, honor-labels annotation", tc.pods, clone(demoPodTarget, podHonors), want{
					"prometheus.scrape/pods_honor_labels": {{clone(demoPodLabels, tc.podAddr("shop", "demo-5f7b", "10.1.9.9:8080")), true}}}},
				{"demo pod, honor-labels false", tc.pods, clone(demoPodTarget, model.LabelSet{"__meta_kubernetes_pod_annotation_prometheus_io_honor_labels": "false"}), want{
					"prometheus.scrape/pods": {{clone(demoPodLabels, tc.podAddr("shop", "demo-5f7b", "10.1.9.9:8080")), false}}}},
				{"kube-state-metrics Service", tc.services, ksmSvcTarget, want{
					"prometheus.scrape/cluster_honor_labels": {{clone(ksm, tc.svcAddr("kube-system", "kube-state-metrics", "kube-state-metrics.kube-system.svc:8080")), true}}}},
				{"kube-state-metrics Service of another name", tc.services, renamedKSMSvc, want{
					"prometheus.scrape/cluster_honor_labels": {{clone(ksm, tc.svcAddr("kube-system", "prom-kube-state-metrics", "kube-state-metrics.kube-system.svc:8080")), true}}}},
				{"demo Service", tc.services, demoSvcTarget, want{
					"prometheus.scrape/cluster": {{clone(demoSvcLabels, tc.svcAddr("shop", "demo", "demo.shop.svc:8080")), false}}}},
				{"demo Service, honor-labels annotation", tc.services, clone(demoSvcTarget, svcHonors), want{
					"prometheus.scrape/cluster_honor_labels": {{clone(demoSvcLabels, tc.svcAddr("shop", "demo", "demo.shop.svc:8080")), true}}}},
			} {
				t.Run(c.name, func(t *testing.T) {
					require.Equal(t, map[string][]scrapeOf(c.want), scrapesOf(t, comps, c.from, c.in))
				})
			}
			if tc.staticTargetScrape != "" {
				static := model.LabelSet{"__address__": "argo-rollouts-metrics.argo-rollouts.svc:8090"}
				require.Equal(t, map[string][]scrapeOf{tc.staticTargetScrape: {{static, false}}}, scrapesOf(t, comps, "discovery.static/cluster", static))
			}
		})
	}
}

// TestPresetJobNames: SONDE_JOB_NAMES=alloy gives the kubelet, cAdvisor, resource,
// node-exporter and kube-state-metrics targets of both Kubernetes presets the jobs of
// Grafana's k8s-monitoring chart; unset or prometheus, kube-prometheus' names. Other targets
// keep their job, and the kubelet's keep metrics_path and instance either way.
func TestPresetJobNames(t *testing.T) {
	const node = "node-b"
	data := PresetData{Kubeconfig: "/home/me/.kube/config", APIServer: "https://127.0.0.1:6443"}
	nodeTarget := model.LabelSet{"__address__": "10.0.1.17:10250", "__meta_kubernetes_node_name": node}
	type jobs map[string][]model.LabelValue // scrape id: the jobs of the targets it gets, sorted
	cases := []struct {
		name          string
		from          string // "": the preset's node discovery
		in            model.LabelSet
		prom, alloy   jobs
		daemonsetOnly bool
	}{
		{name: "node", in: nodeTarget,
			prom:  jobs{"prometheus.scrape/kubelet": {"kubelet", "kubelet", "kubelet"}},
			alloy: jobs{"prometheus.scrape/kubelet": {"integrations/kubernetes/cadvisor", "integrations/kubernetes/kubelet", "integrations/kubernetes/resources"}}},
		{name: "kube-state-metrics pod", from: "discovery.kubernetes/pods", in: ksmPodTarget,
			prom:  jobs{"prometheus.scrape/kube_state_metrics": {"kube-state-metrics"}},
			alloy: jobs{"prometheus.scrape/kube_state_metrics": {"integrations/kubernetes/kube-state-metrics"}}},
		{name: "kube-state-metrics Service", from: "discovery.kubernetes/services", in: ksmSvcTarget,
			prom:  jobs{"prometheus.scrape/cluster_honor_labels": {"kube-state-metrics"}},
			alloy: jobs{"prometheus.scrape/cluster_honor_labels": {"integrations/kubernetes/kube-state-metrics"}}},
		{name: "demo pod", from: "discovery.kubernetes/pods", in: demoPodTarget,
			prom: jobs{"prometheus.scrape/pods": {"demo"}}},
		{name: "demo pod, honor-labels", from: "discovery.kubernetes/pods", in: clone(demoPodTarget, podHonors),
			prom: jobs{"prometheus.scrape/pods_honor_labels": {"demo"}}},
		{name: "demo Service", from: "discovery.kubernetes/services", in: demoSvcTarget,
			prom: jobs{"prometheus.scrape/cluster": {"demo"}}},
		{name: "host", from: "prometheus.exporter.unix/host", in: exporterTargets[0], daemonsetOnly: true,
			prom:  jobs{"prometheus.scrape/host": {"node-exporter"}},
			alloy: jobs{"prometheus.scrape/host": {"integrations/node_exporter"}}},
		{name: "gpu", from: "prometheus.exporter.gpu/gpu", in: exporterTargets[1], daemonsetOnly: true,
			prom: jobs{"prometheus.scrape/host": {"dcgm-exporter"}}},
		{name: "sonde", from: "prometheus.exporter.self/sonde", in: exporterTargets[2], daemonsetOnly: true,
			prom: jobs{"prometheus.scrape/host": {"sonde"}}},
	}
	for _, preset := range []string{"daemonset", "cluster-local"} {
		nodes := map[string]string{"daemonset": "discovery.kubernetes/node", "cluster-local": "discovery.kubernetes/nodes"}[preset]
		for _, convention := range []string{"", "prometheus", "alloy"} {
			t.Run(preset+"/"+convention, func(t *testing.T) {
				comps := presetComponentsWith(t, preset, data, node, map[string]string{"SONDE_JOB_NAMES": convention})
				for _, c := range cases {
					if c.daemonsetOnly && preset != "daemonset" {
						continue
					}
					from := c.from
					if from == "" {
						from = nodes
					}
					got := jobs{}
					for id, scraped := range scrapesOf(t, comps, from, c.in) {
						for _, s := range scraped {
							got[id] = append(got[id], s.Target["job"])
						}
						slices.Sort(got[id])
					}
					want := c.prom
					if convention == "alloy" && c.alloy != nil {
						want = c.alloy
					}
					require.Equal(t, want, got, c.name)
				}
				var paths []model.LabelValue
				for _, s := range scrapesOf(t, comps, nodes, nodeTarget)["prometheus.scrape/kubelet"] {
					paths = append(paths, s.Target["metrics_path"])
					require.Equal(t, model.LabelValue(node), s.Target["instance"])
				}
				slices.Sort(paths)
				require.Equal(t, []model.LabelValue{"/metrics", "/metrics/cadvisor", "/metrics/resource"}, paths)
				if preset == "daemonset" {
					// The USE Method dashboards' instance picker, label_values(node_exporter_build_info{job=...},
					// instance): node_exporter's series carry instance = the node's name.
					host := scrapesOf(t, comps, "prometheus.exporter.unix/host", exporterTargets[0])["prometheus.scrape/host"]
					require.Len(t, host, 1)
					require.Equal(t, model.LabelValue(node), host[0].Target["instance"])
				}
			})
		}
	}
}
