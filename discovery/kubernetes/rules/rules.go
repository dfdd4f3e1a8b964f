// Package rules holds the tested relabelling rule sets sonde's presets use for Kubernetes
// targets, as Prometheus relabel_configs in YAML (one file per rule set, embedded). Each
// file's header says which discovery it expects as input and which labels it produces.
package rules

import (
	"embed"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v3"
)

// Rule set names.
const (
	// Kubelet scrapes the kubelet's /metrics.
	Kubelet = "kubelet"
	// KubeletCAdvisor scrapes the kubelet's /metrics/cadvisor.
	KubeletCAdvisor = "kubelet-cadvisor"
	// KubeletResource scrapes the kubelet's /metrics/resource.
	KubeletResource = "kubelet-resource"
	// AnnotatedPods scrapes pods annotated prometheus.io/scrape: "true", except
	// kube-state-metrics (KubeStateMetricsPods).
	AnnotatedPods = "pods-annotated"
	// AnnotatedServices scrapes services annotated prometheus.io/scrape: "true"
	// (kube-state-metrics' without its namespace and service labels).
	AnnotatedServices = "services-annotated"
	// KubeStateMetricsPods scrapes the kube-state-metrics pods that AnnotatedPods leaves out,
	// labelled with the job only, for a scrape with honor_labels: true.
	KubeStateMetricsPods = "kube-state-metrics-pods"
	// HonorLabels keeps, of the annotated pods' or services' targets, those to scrape with
	// honor_labels: true (annotated prometheus.io/honor-labels: "true", and kube-state-metrics'
	// Service); NoHonorLabels keeps the others.
	HonorLabels   = "honor-labels"
	NoHonorLabels = "no-honor-labels"
)

// JobNamesVariable chooses the job names of the kubelet, cAdvisor, kubelet resource and
// kube-state-metrics targets (and, in the daemonset preset, of the host exporter's):
//
//	prometheus (the default)  kube-prometheus' and the Prometheus charts': kubelet (with
//	                          metrics_path), kube-state-metrics, node-exporter, which
//	                          kube-prometheus-stack's and the mixins' dashboards select.
//	alloy                     Grafana's k8s-monitoring chart's (Alloy): integrations/kubernetes/kubelet,
//	                          integrations/kubernetes/cadvisor, integrations/kubernetes/resources,
//	                          integrations/kubernetes/kube-state-metrics, integrations/node_exporter,
//	                          which its Kubernetes Monitoring dashboards select.
//
// The rule sets read it as ${SONDE_JOB_NAMES:-prometheus}, which sonde's configuration loader
// expands; Load leaves the reference as it is, which names the jobs as prometheus does.
const JobNamesVariable = "SONDE_JOB_NAMES"

// JobNamesConventions are the values JobNamesVariable takes; the first is the default.
var JobNamesConventions = []string{"prometheus", "alloy"}

// CheckJobNames returns an error naming JobNamesVariable unless v is empty (the default) or
// one of JobNamesConventions.
func CheckJobNames(v string) error {
	if v == "" || slices.Contains(JobNamesConventions, v) {
		return nil
	}
	return fmt.Errorf("%s: want %s, got %q", JobNamesVariable, strings.Join(JobNamesConventions, " or "), v)
}

//go:embed *.yaml
var files embed.FS

// Names returns every rule set name, sorted.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(out)
	return out
}

// YAML returns the rule set's YAML text (a list of relabel_configs, with comments), to
// paste under a discovery.relabel component's rules.
func YAML(name string) (string, error) {
	b, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return "", fmt.Errorf("no rule set %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return string(b), nil
}

// Load returns the rule set decoded and validated, ready for relabel.Process.
func Load(name string) ([]*relabel.Config, error) {
	text, err := YAML(name)
	if err != nil {
		return nil, err
	}
	var rules []*relabel.Config
	if err := yaml.Unmarshal([]byte(text), &rules); err != nil {
		return nil, fmt.Errorf("rule set %s: %w", name, err)
	}
	for i, r := range rules {
		if err := r.Validate(model.UTF8Validation); err != nil {
			return nil, fmt.Errorf("rule set %s: rule %d: %w", name, i, err)
		}
	}
	return rules, nil
}
