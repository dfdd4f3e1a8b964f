package rules

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/stretchr/testify/require"
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
	require.Equal(t, []string{Kubelet, KubeletCAdvisor, KubeletResource, AnnotatedPods, AnnotatedServices}, Names())
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

func TestAnnotatedPods(t *testing.T) {
	rules, err := Load(AnnotatedPods)
	require.NoError(t, err)
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
	tests := []struct {
		name string
		in   model.LabelSet
		want model.LabelSet // nil: dropped
	}{
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, apply(rules, tt.in))
		})
	}
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, apply(rules, tt.in))
		})
	}
}
