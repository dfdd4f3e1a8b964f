package monitor

import (
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/util/strutil"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sondehq/sonde/pipeline"
)

// IngressTargets returns the targets Prometheus' Kubernetes discovery (role ingress) finds
// in the Ingresses: one per rule host and path, with the same meta labels. Objects that
// are not Ingresses are counted in bad.
func IngressTargets(objs []*unstructured.Unstructured) (out pipeline.Targets, bad int) {
	for _, u := range objs {
		var ing networkingv1.Ingress
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ing); err != nil {
			bad++
			continue
		}
		common := ingressLabels(&ing)
		var tlsHosts []string
		for _, t := range ing.Spec.TLS {
			tlsHosts = append(tlsHosts, t.Hosts...)
		}
		for _, rule := range ing.Spec.Rules {
			scheme := "http"
			for _, p := range tlsHosts {
				if matchesHost(p, rule.Host) {
					scheme = "https"
					break
				}
			}
			for _, path := range rulePaths(rule) {
				ls := model.LabelSet{
					model.AddressLabel:                 model.LabelValue(rule.Host),
					"__meta_kubernetes_ingress_scheme": model.LabelValue(scheme),
					"__meta_kubernetes_ingress_host":   model.LabelValue(rule.Host),
					"__meta_kubernetes_ingress_path":   model.LabelValue(path),
				}
				for k, v := range common {
					ls[k] = v
				}
				out = append(out, ls)
			}
		}
	}
	return out, bad
}

func ingressLabels(ing *networkingv1.Ingress) model.LabelSet {
	const p = "__meta_kubernetes_ingress_"
	ls := model.LabelSet{
		"__meta_kubernetes_namespace": model.LabelValue(ing.Namespace),
		p + "name":                    model.LabelValue(ing.Name),
	}
	if c := ing.Spec.IngressClassName; c != nil {
		ls[p+"class_name"] = model.LabelValue(*c)
	}
	for k, v := range ing.Labels {
		n := strutil.SanitizeLabelName(k)
		ls[model.LabelName(p+"label_"+n)] = model.LabelValue(v)
		ls[model.LabelName(p+"labelpresent_"+n)] = "true"
	}
	for k, v := range ing.Annotations {
		n := strutil.SanitizeLabelName(k)
		ls[model.LabelName(p+"annotation_"+n)] = model.LabelValue(v)
		ls[model.LabelName(p+"annotationpresent_"+n)] = "true"
	}
	return ls
}

// rulePaths are a rule's paths as Prometheus reads them: "/" for a rule without HTTP
// paths or for an empty path.
func rulePaths(rule networkingv1.IngressRule) []string {
	if rule.HTTP == nil {
		return []string{"/"}
	}
	paths := make([]string, len(rule.HTTP.Paths))
	for i, p := range rule.HTTP.Paths {
		paths[i] = p.Path
		if p.Path == "" {
			paths[i] = "/"
		}
	}
	return paths
}

// matchesHost tells whether host is pattern or matches its leading wildcard (*.example.com).
func matchesHost(pattern, host string) bool {
	if pattern == host {
		return true
	}
	pp, hp := strings.Split(pattern, "."), strings.Split(host, ".")
	if pp[0] != "*" || len(pp) != len(hp) {
		return false
	}
	for i := 1; i < len(pp); i++ {
		if pp[i] != hp[i] {
			return false
		}
	}
	return true
}
