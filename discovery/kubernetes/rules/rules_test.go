package rules

import (
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// apply relabels one target and returns the labels that survive into the scrape target
// (meta labels removed), or nil when it is dropped.
func apply(rules []*relabel.Config, in model.LabelSet) model.LabelSet {
	b := labels.NewBuilder(labels.EmptyLabels())
	for k, v := range in {
		b.Set(string(k), string(v))
	}
	if !relabel.ProcessBuilder(b, rules...) {
		return nil
	}
	out := model.LabelSet{}
	b.Range(func(l labels.Label) {
		if !strings.HasPrefix(l.Name, model.MetaLabelPrefix) {
			out[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		}
	})
	return out
}

func merge(sets ...model.LabelSet) model.LabelSet {
	out := model.LabelSet{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

func TestAllLoad(t *testing.T) {
	require.Equal(t, []string{HonorLabels, KubeStateMetricsPods, Kubelet, KubeletCAdvisor, KubeletResource, NoHonorLabels, AnnotatedPods, AnnotatedServices}, Names())
	for _, n := range Names() {
		rules, err := Load(n)
		require.NoError(t, err, n)
		require.NotEmpty(t, rules, n)
	}
	_, err := Load("nope")
	require.ErrorContains(t, err, "no rule set")
}

func TestKubelet(t *testing.T) {
	node := model.LabelSet{
		"__address__":                 "10.0.0.5:10250",
		"instance":                    "node-a",
		"__meta_kubernetes_node_name": "node-a",
		"__meta_kubernetes_node_address_InternalIP": "10.0.0.5",
	}
	for name, path := range map[string]string{Kubelet: "/metrics", KubeletCAdvisor: "/metrics/cadvisor", KubeletResource: "/metrics/resource"} {
		t.Run(name, func(t *testing.T) {
			rules, err := Load(name)
			require.NoError(t, err)
			require.Equal(t, model.LabelSet{
				"__address__":      "10.0.0.5:10250",
				"__scheme__":       "https",
				"__metrics_path__": model.LabelValue(path),
				"instance":         "node-a",
				"node":             "node-a",
				"job":              "kubelet",
				"metrics_path":     model.LabelValue(path),
			}, apply(rules, node))
		})
	}
}

// podCase is one discovered pod target and what pods-annotated makes of it.
type podCase struct {
	name string
	in   model.LabelSet
	want model.LabelSet // nil: dropped
}

// annotatedPodCases are pods-annotated's cases: shop/cart-7d9f on node-a, one case per rule.
func annotatedPodCases() []podCase {
	pod := model.LabelSet{
		"__meta_kubernetes_namespace":                           "shop",
		"__meta_kubernetes_pod_name":                            "cart-7d9f",
		"__meta_kubernetes_pod_ip":                              "10.1.2.3",
		"__meta_kubernetes_pod_node_name":                       "node-a",
		"__meta_kubernetes_pod_phase":                           "Running",
		"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
	}
	target := func(container, port string, extra ...model.LabelSet) model.LabelSet {
		t := model.LabelSet{
			"__meta_kubernetes_pod_container_name": model.LabelValue(container),
			"__meta_kubernetes_pod_container_init": "false",
			"__address__":                          "10.1.2.3",
		}
		if port != "" {
			t["__meta_kubernetes_pod_container_port_number"] = model.LabelValue(port)
			t["__address__"] = model.LabelValue("10.1.2.3:" + port)
		}
		return merge(append([]model.LabelSet{pod, t}, extra...)...)
	}
	marked := model.LabelSet{"__meta_sonde_pod_annotated_port_target": "true"}
	ann := func(k, v string) model.LabelSet {
		return model.LabelSet{model.LabelName("__meta_kubernetes_pod_annotation_prometheus_io_" + k): model.LabelValue(v)}
	}
	out := func(addr, container string, extra ...model.LabelSet) model.LabelSet {
		return merge(append([]model.LabelSet{{
			"__address__": model.LabelValue(addr), "namespace": "shop", "pod": "cart-7d9f",
			"container": model.LabelValue(container), "node": "node-a", "job": model.LabelValue(container),
		}}, extra...)...)
	}
	return []podCase{
		{name: "declared port, no annotation", in: target("app", "8080"), want: out("10.1.2.3:8080", "app")},
		{name: "port-less, no annotation", in: target("app", ""), want: nil},
		{name: "not opted in", in: merge(target("app", "8080"), model.LabelSet{"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "false"}), want: nil},
		{name: "not running", in: merge(target("app", "8080"), model.LabelSet{"__meta_kubernetes_pod_phase": "Pending"}), want: nil},
		{name: "init container", in: merge(target("init", "8080"), model.LabelSet{"__meta_kubernetes_pod_container_init": "true"}), want: nil},
		{name: "annotated, the marked target", in: target("app", "9090", ann("port", "9090"), marked), want: out("10.1.2.3:9090", "app")},
		{name: "annotated, another port", in: target("app", "8080", ann("port", "9090")), want: nil},
		{name: "annotated undeclared port, marked port-less", in: target("main", "", ann("port", "7000"), marked), want: out("10.1.2.3:7000", "main")},
		{name: "annotated undeclared port, marked other port", in: target("main", "8080", ann("port", "7000"), marked), want: out("10.1.2.3:7000", "main")},
		{name: "non-numeric port annotation is ignored", in: target("app", "8080", ann("port", "metrics")), want: out("10.1.2.3:8080", "app")},
		{name: "path and scheme", in: target("app", "8080", ann("path", "/stats/prometheus"), ann("scheme", "https")),
			want: out("10.1.2.3:8080", "app", model.LabelSet{"__metrics_path__": "/stats/prometheus", "__scheme__": "https"})},
		{name: "bad scheme ignored", in: target("app", "8080", ann("scheme", "ftp")), want: out("10.1.2.3:8080", "app")},
		{name: "job from app label", in: target("app", "8080", model.LabelSet{"__meta_kubernetes_pod_label_app": "cart"}),
			want: out("10.1.2.3:8080", "app", model.LabelSet{"job": "cart"})},
		{name: "job from app.kubernetes.io/name", in: target("app", "8080", model.LabelSet{
			"__meta_kubernetes_pod_label_app": "cart", "__meta_kubernetes_pod_label_app_kubernetes_io_name": "cart-service"}),
			want: out("10.1.2.3:8080", "app", model.LabelSet{"job": "cart-service"})},
		{name: "job from annotation", in: target("app", "8080", ann("job", "shop/cart"), model.LabelSet{"__meta_kubernetes_pod_label_app": "cart"}),
			want: out("10.1.2.3:8080", "app", model.LabelSet{"job": "shop/cart"})},
		{name: "IPv6", in: merge(target("app", "9090", ann("port", "9090"), marked), model.LabelSet{"__meta_kubernetes_pod_ip": "fd00::1", "__address__": "[fd00::1]:9090"}),
			want: out("[fd00::1]:9090", "app")},
	}
}

// ksmPod is the pod label of kube-state-metrics' official chart and manifests.
var ksmPod = model.LabelSet{"__meta_kubernetes_pod_label_app_kubernetes_io_name": "kube-state-metrics"}

func TestAnnotatedPods(t *testing.T) {
	rules, err := Load(AnnotatedPods)
	require.NoError(t, err)
	for _, tt := range annotatedPodCases() {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, apply(rules, tt.in))
			// kube-state-metrics is kube-state-metrics-pods', never scraped twice.
			require.Nil(t, apply(rules, merge(tt.in, ksmPod)))
		})
	}
}

// TestKubeStateMetricsPods: kube-state-metrics pods are selected and addressed exactly as
// pods-annotated selects and addresses other pods (its every case, with the pod label of
// kube-state-metrics), and labelled with the job alone.
func TestKubeStateMetricsPods(t *testing.T) {
	rules, err := Load(KubeStateMetricsPods)
	require.NoError(t, err)
	for _, tt := range annotatedPodCases() {
		t.Run(tt.name, func(t *testing.T) {
			require.Nil(t, apply(rules, tt.in), "not kube-state-metrics")
			var want model.LabelSet
			if tt.want != nil {
				want = model.LabelSet{"job": "kube-state-metrics"}
				for k, v := range tt.want {
					if strings.HasPrefix(string(k), "__") {
						want[k] = v
					}
				}
				if j := tt.in["__meta_kubernetes_pod_annotation_prometheus_io_job"]; j != "" {
					want["job"] = j
				}
			}
			require.Equal(t, want, apply(rules, merge(tt.in, ksmPod)))
		})
	}
	// As its chart deploys it, annotated for its metrics port: one target, the job only.
	ksm := model.LabelSet{
		"__address__":                                           "10.1.9.9:8080",
		"__meta_kubernetes_namespace":                           "kube-system",
		"__meta_kubernetes_pod_name":                            "kube-state-metrics-6c9d",
		"__meta_kubernetes_pod_ip":                              "10.1.9.9",
		"__meta_kubernetes_pod_node_name":                       "node-b",
		"__meta_kubernetes_pod_phase":                           "Running",
		"__meta_kubernetes_pod_container_name":                  "kube-state-metrics",
		"__meta_kubernetes_pod_container_init":                  "false",
		"__meta_kubernetes_pod_container_port_number":           "8080",
		"__meta_kubernetes_pod_label_app":                       "ksm",
		"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
		"__meta_kubernetes_pod_annotation_prometheus_io_port":   "8080",
		"__meta_sonde_pod_annotated_port_target":                "true",
	}
	require.Equal(t, model.LabelSet{"__address__": "10.1.9.9:8080", "job": "kube-state-metrics"}, apply(rules, merge(ksm, ksmPod)))
	require.Nil(t, apply(rules, merge(ksm, ksmPod, model.LabelSet{"__meta_kubernetes_pod_container_port_number": "8081", "__meta_sonde_pod_annotated_port_target": ""})), "its telemetry port")
	require.Nil(t, apply(rules, ksm), "without the label: pods-annotated's")
}

func TestAnnotatedServices(t *testing.T) {
	rules, err := Load(AnnotatedServices)
	require.NoError(t, err)
	svc := func(port string, extra ...model.LabelSet) model.LabelSet {
		return merge(append([]model.LabelSet{{
			"__address__":                                               model.LabelValue("kube-state-metrics.monitoring.svc:" + port),
			"__meta_kubernetes_namespace":                               "monitoring",
			"__meta_kubernetes_service_name":                            "kube-state-metrics",
			"__meta_kubernetes_service_port_number":                     model.LabelValue(port),
			"__meta_kubernetes_service_annotation_prometheus_io_scrape": "true",
		}}, extra...)...)
	}
	out := func(port string, extra ...model.LabelSet) model.LabelSet {
		return merge(append([]model.LabelSet{{
			"__address__": model.LabelValue("kube-state-metrics.monitoring.svc:" + port),
			"namespace":   "monitoring", "service": "kube-state-metrics", "job": "kube-state-metrics",
		}}, extra...)...)
	}
	port := model.LabelSet{"__meta_kubernetes_service_annotation_prometheus_io_port": "8080"}
	ksmSvc := model.LabelSet{"__meta_kubernetes_service_label_app_kubernetes_io_name": "kube-state-metrics"}
	tests := []struct {
		name string
		in   model.LabelSet
		want model.LabelSet
	}{
		{name: "every port without annotation", in: svc("8081"), want: out("8081")},
		{name: "annotated port", in: svc("8080", port), want: out("8080")},
		{name: "other port", in: svc("8081", port), want: nil},
		{name: "not opted in", in: svc("8080", model.LabelSet{"__meta_kubernetes_service_annotation_prometheus_io_scrape": "no"}), want: nil},
		{name: "job and path", in: svc("8080", model.LabelSet{
			"__meta_kubernetes_service_annotation_prometheus_io_job":  "ksm",
			"__meta_kubernetes_service_annotation_prometheus_io_path": "/m",
		}), want: out("8080", model.LabelSet{"job": "ksm", "__metrics_path__": "/m"})},
		// Labelled as kube-state-metrics' chart and manifests label it: job kube-state-metrics
		// whatever the service's name, and no namespace or service of its own.
		{name: "kube-state-metrics", in: svc("8080", ksmSvc, model.LabelSet{"__meta_kubernetes_service_name": "prom-kube-state-metrics"}),
			want: model.LabelSet{"__address__": "kube-state-metrics.monitoring.svc:8080", "job": "kube-state-metrics"}},
		{name: "kube-state-metrics, job annotation", in: svc("8080", ksmSvc, model.LabelSet{"__meta_kubernetes_service_annotation_prometheus_io_job": "ksm"}),
			want: model.LabelSet{"__address__": "kube-state-metrics.monitoring.svc:8080", "job": "ksm"}},
		{name: "kube-state-metrics, other port", in: svc("8081", ksmSvc, port), want: nil},
		{name: "other app.kubernetes.io/name", in: svc("8080", model.LabelSet{"__meta_kubernetes_service_label_app_kubernetes_io_name": "cart"}), want: out("8080")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, apply(rules, tt.in))
		})
	}
}

// TestHonorLabels: of the annotated pods' and services' targets (and static targets, which
// carry no __meta_ labels), honor-labels keeps those that opt in and kube-state-metrics'
// Service, no-honor-labels exactly the others, and neither changes a kept target.
func TestHonorLabels(t *testing.T) {
	honor, err := Load(HonorLabels)
	require.NoError(t, err)
	other, err := Load(NoHonorLabels)
	require.NoError(t, err)
	pod := func(v string) model.LabelSet {
		return model.LabelSet{"__meta_kubernetes_pod_annotation_prometheus_io_honor_labels": model.LabelValue(v)}
	}
	svc := func(v string) model.LabelSet {
		return model.LabelSet{"__meta_kubernetes_service_annotation_prometheus_io_honor_labels": model.LabelValue(v)}
	}
	svcApp := func(v string) model.LabelSet {
		return model.LabelSet{"__meta_kubernetes_service_label_app_kubernetes_io_name": model.LabelValue(v)}
	}
	target := model.LabelSet{"__address__": "10.1.2.3:8080", "job": "app", "namespace": "shop"}
	for _, tt := range []struct {
		name  string
		in    model.LabelSet
		honor bool
	}{
		{"plain target", nil, false},
		{"pod opts in", pod("true"), true},
		{"pod says false", pod("false"), false},
		{"pod says yes", pod("yes"), false},
		{"pod annotation empty", pod(""), false},
		{"pod value with separators", pod("x;true;kube-state-metrics"), false},
		{"service opts in", svc("true"), true},
		{"service says false", svc("false"), false},
		{"kube-state-metrics service", svcApp("kube-state-metrics"), true},
		{"kube-state-metrics service, false", merge(svcApp("kube-state-metrics"), svc("false")), true},
		{"other app service", svcApp("cart"), false},
		{"other app service opts in", merge(svcApp("cart"), svc("true")), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := merge(target, tt.in)
			kept, left := apply(honor, in), apply(other, in)
			if tt.honor {
				require.Equal(t, target, kept)
				require.Nil(t, left)
			} else {
				require.Nil(t, kept)
				require.Equal(t, target, left)
			}
		})
	}
}

// loadWith is rule set name as the configuration loader hands it over with
// SONDE_JOB_NAMES=value (unset when "").
func loadWith(t *testing.T, name, value string) []*relabel.Config {
	t.Helper()
	text, err := YAML(name)
	require.NoError(t, err)
	const ref = "${" + JobNamesVariable + ":-prometheus}"
	require.Contains(t, text, ref)
	if value == "" {
		value = "prometheus"
	}
	var rules []*relabel.Config
	require.NoError(t, yaml.Unmarshal([]byte(strings.ReplaceAll(text, ref, value)), &rules))
	for _, r := range rules {
		require.NoError(t, r.Validate(model.UTF8Validation))
	}
	return rules
}

// TestJobNames: with SONDE_JOB_NAMES=alloy the kubelet, cAdvisor, resource and
// kube-state-metrics targets get k8s-monitoring's integrations/... jobs; unset, prometheus
// or Load's unexpanded reference keep kube-prometheus' names; a prometheus.io/job
// annotation wins in both; nothing else changes.
func TestJobNames(t *testing.T) {
	node := model.LabelSet{"__address__": "10.0.0.5:10250", "__meta_kubernetes_node_name": "node-a"}
	ksmPodIn := merge(annotatedPodCases()[0].in, ksmPod)
	ksmSvcIn := model.LabelSet{
		"__address__":                                               "ksm.monitoring.svc:8080",
		"__meta_kubernetes_namespace":                               "monitoring",
		"__meta_kubernetes_service_name":                            "prom-kube-state-metrics",
		"__meta_kubernetes_service_port_number":                     "8080",
		"__meta_kubernetes_service_annotation_prometheus_io_scrape": "true",
		"__meta_kubernetes_service_label_app_kubernetes_io_name":    "kube-state-metrics",
	}
	jobAnnotation := func(kind string) model.LabelSet {
		return model.LabelSet{model.LabelName("__meta_kubernetes_" + kind + "_annotation_prometheus_io_job"): "ksm"}
	}
	otherSvc := merge(ksmSvcIn, model.LabelSet{"__meta_kubernetes_service_label_app_kubernetes_io_name": "cart", "__meta_kubernetes_service_name": "kube-state-metrics"})
	for _, tt := range []struct {
		name, set   string
		in          model.LabelSet
		prom, alloy model.LabelValue
	}{
		{"kubelet", Kubelet, node, "kubelet", "integrations/kubernetes/kubelet"},
		{"cadvisor", KubeletCAdvisor, node, "kubelet", "integrations/kubernetes/cadvisor"},
		{"resource", KubeletResource, node, "kubelet", "integrations/kubernetes/resources"},
		{"kube-state-metrics pod", KubeStateMetricsPods, ksmPodIn, "kube-state-metrics", "integrations/kubernetes/kube-state-metrics"},
		{"kube-state-metrics pod, job annotation", KubeStateMetricsPods, merge(ksmPodIn, jobAnnotation("pod")), "ksm", "ksm"},
		{"kube-state-metrics Service", AnnotatedServices, ksmSvcIn, "kube-state-metrics", "integrations/kubernetes/kube-state-metrics"},
		{"kube-state-metrics Service, job annotation", AnnotatedServices, merge(ksmSvcIn, jobAnnotation("service")), "ksm", "ksm"},
		// Named kube-state-metrics, without its label: an ordinary Service.
		{"other Service", AnnotatedServices, otherSvc, "kube-state-metrics", "kube-state-metrics"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			loaded, err := Load(tt.set)
			require.NoError(t, err)
			want := apply(loaded, tt.in)
			require.NotNil(t, want)
			require.Equal(t, tt.prom, want["job"], "Load: unexpanded")
			for _, convention := range []string{"", "prometheus", "alloy"} {
				want := want.Clone()
				if convention == "alloy" {
					want["job"] = tt.alloy
				}
				require.Equal(t, want, apply(loadWith(t, tt.set, convention), tt.in), convention)
			}
		})
	}
	// The others are not touched.
	for _, set := range []string{AnnotatedPods, HonorLabels, NoHonorLabels} {
		text, err := YAML(set)
		require.NoError(t, err)
		require.NotContains(t, text, JobNamesVariable, set)
	}
}

func TestCheckJobNames(t *testing.T) {
	for _, ok := range []string{"", "prometheus", "alloy"} {
		require.NoError(t, CheckJobNames(ok))
	}
	for _, bad := range []string{"Alloy", "grafana", "prometheus "} {
		err := CheckJobNames(bad)
		require.ErrorContains(t, err, "SONDE_JOB_NAMES: want prometheus or alloy, got "+strconv.Quote(bad))
	}
}
