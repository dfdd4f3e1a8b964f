package monitor

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ProbeSpec is the supported subset of a Probe's spec: a prober (blackbox-exporter or
// alike) asked to probe each target, given as its target URL parameter.
type ProbeSpec struct {
	JobName       string       `json:"jobName"`
	Prober        Prober       `json:"prober"`
	Module        string       `json:"module"`
	Targets       ProbeTargets `json:"targets"`
	Interval      string       `json:"interval"`
	ScrapeTimeout string       `json:"scrapeTimeout"`
	Params        []ProbeParam `json:"params"`
}

// Prober is where a Probe's targets are probed from.
type Prober struct {
	// URL is the prober's host:port.
	URL    string `json:"url"`
	Scheme string `json:"scheme"`
	Path   string `json:"path"`
}

// ProbeParam is one URL parameter of the probe request.
type ProbeParam struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// ProbeTargets are a Probe's targets: static ones, or (when there are none) the hosts and
// paths of the Ingresses it selects.
type ProbeTargets struct {
	StaticConfig *ProbeStatic  `json:"staticConfig"`
	Ingress      *ProbeIngress `json:"ingress"`
}

// ProbeStatic are fixed probe targets.
type ProbeStatic struct {
	Static      []string          `json:"static"`
	Labels      map[string]string `json:"labels"`
	Relabelings []RelabelConfig   `json:"relabelingConfigs"`
}

// ProbeIngress selects Ingresses whose hosts and paths are probed.
type ProbeIngress struct {
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector NamespaceSelector    `json:"namespaceSelector"`
	Relabelings       []RelabelConfig      `json:"relabelingConfigs"`
}

// ProbeMonitor is the supported subset of a Probe object.
type ProbeMonitor struct {
	Namespace, Name string
	Spec            ProbeSpec
	// Ignored lists the fields set but not supported that do not change what is probed.
	Ignored []string
	// Skipped says why the probe is not scraped (OAuth2 or a proxy field); empty when it
	// is.
	Skipped string
	// Settings are its metric relabelling, TLS and credentials (nil: none).
	Settings *Settings
}

var (
	probeFields = []string{"jobName", "prober", "module", "targets", "interval", "scrapeTimeout", "params"}
	// probeConnectionFields change how the prober is reached and are not supported: a
	// probe setting one is skipped.
	probeConnectionFields = []string{"oauth2"}
	proberFields          = []string{"url", "scheme", "path"}
)

// DecodeProbe reads a Probe from an unstructured object.
func DecodeProbe(u *unstructured.Unstructured) (*ProbeMonitor, error) {
	p := &ProbeMonitor{Namespace: u.GetNamespace(), Name: u.GetName()}
	raw, _, _ := unstructured.NestedMap(u.Object, "spec")
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if err := json.Unmarshal(b, &p.Spec); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	skip := func(path string) {
		if p.Skipped == "" {
			p.Skipped = path + " is not supported"
		}
	}
	for _, k := range sortedKeys(raw) {
		switch {
		case slices.Contains(probeFields, k), slices.Contains(settingsFields, k):
		case slices.Contains(probeConnectionFields, k):
			skip("spec." + k)
		default:
			p.Ignored = append(p.Ignored, "spec."+k)
		}
	}
	prober, _ := raw["prober"].(map[string]any)
	for _, k := range sortedKeys(prober) {
		if !slices.Contains(proberFields, k) {
			skip("spec.prober." + k) // proxy settings
		}
	}
	st, err := decodeSettings(raw, p.Namespace, "spec")
	switch {
	case err != nil:
		if p.Skipped == "" {
			p.Skipped = err.Error()
		}
	case !st.IsZero():
		p.Settings = st
	}
	return p, nil
}

// RoleStatic marks the rules a job applies to the targets it defines itself (a Probe's
// static targets); RoleIngress the targets of Ingresses.
const (
	RoleStatic Role = iota + 100
	RoleIngress
)

// ProbeJob returns the scrape job of a Probe, as the operator writes it: job
// probe/<namespace>/<name> (or spec.jobName), the prober's address, path, scheme and the
// module and params, with each target in the target parameter and the instance label.
func ProbeJob(p *ProbeMonitor) (Job, error) {
	name := fmt.Sprintf("probe/%s/%s", p.Namespace, p.Name)
	s := p.Spec
	if s.Prober.URL == "" {
		return Job{}, fmt.Errorf("spec.prober.url: required")
	}
	ep := Endpoint{Path: s.Prober.Path, Scheme: s.Prober.Scheme, Interval: s.Interval, ScrapeTimeout: s.ScrapeTimeout}
	if ep.Path == "" {
		ep.Path = "/probe"
	}
	labels, err := endpointLabels(name, ep)
	if err != nil {
		field := "spec." + err.Error()
		if strings.HasPrefix(err.Error(), "path") || strings.HasPrefix(err.Error(), "scheme") {
			field = "spec.prober." + err.Error()
		}
		return Job{}, fmt.Errorf("%s", field)
	}
	if err := addSettings(labels, p.Settings); err != nil {
		return Job{}, fmt.Errorf("spec.%w", err)
	}
	// Params: module first; a "module" param is ignored when spec.module is set. Prometheus
	// sends one value per parameter from a target label; the first is kept.
	for _, pr := range s.Params {
		if pr.Name == "" || len(pr.Values) == 0 || (s.Module != "" && pr.Name == "module") {
			continue
		}
		labels[model.LabelName(model.ParamLabelPrefix+pr.Name)] = model.LabelValue(pr.Values[0])
	}
	if s.Module != "" {
		labels[model.ParamLabelPrefix+"module"] = model.LabelValue(s.Module)
	}

	var rs rules
	rs.copy(model.JobLabel, "__tmp_prometheus_job_name")
	if s.JobName != "" {
		rs.add(relabel.Config{TargetLabel: "job", Replacement: s.JobName})
	}
	prober := func() {
		rs.copy("__param_target", "instance")
		rs.add(relabel.Config{TargetLabel: model.AddressLabel, Replacement: s.Prober.URL})
	}
	j := Job{Name: name, Labels: labels, Rules: map[Role][]*relabel.Config{}}
	var user []RelabelConfig
	var field string
	switch {
	case s.Targets.StaticConfig != nil:
		st := s.Targets.StaticConfig
		rs.copy(model.AddressLabel, "__param_target")
		prober()
		for _, t := range st.Static {
			ls := model.LabelSet{model.AddressLabel: model.LabelValue(t), "namespace": model.LabelValue(p.Namespace)}
			for k, v := range st.Labels {
				ls[model.LabelName(k)] = model.LabelValue(v)
			}
			j.Static = append(j.Static, ls)
		}
		user, field = st.Relabelings, "spec.targets.staticConfig.relabelingConfigs"
		j.Rules[RoleStatic] = nil
	case s.Targets.Ingress != nil:
		in := s.Targets.Ingress
		rs.namespaces(in.NamespaceSelector, p.Namespace)
		if err := rs.selector("ingress", in.Selector); err != nil {
			return Job{}, fmt.Errorf("spec.targets.ingress.%w", err)
		}
		sep := ";"
		rs.add(relabel.Config{
			SourceLabels: model.LabelNames{"__meta_kubernetes_ingress_scheme", model.AddressLabel, "__meta_kubernetes_ingress_path"},
			Separator:    sep, Regex: relabel.MustNewRegexp("(.+);(.+);(.+)"),
			TargetLabel: "__param_target", Replacement: "${1}://${2}${3}",
		})
		rs.copy("__meta_kubernetes_namespace", "namespace")
		rs.copy("__meta_kubernetes_ingress_name", "ingress")
		rs.copy(model.AddressLabel, "__tmp_ingress_address")
		prober()
		user, field = in.Relabelings, "spec.targets.ingress.relabelingConfigs"
		j.Rules[RoleIngress] = nil
	default:
		return Job{}, fmt.Errorf("spec.targets: neither staticConfig nor ingress is set")
	}
	if rs.err != nil {
		return Job{}, rs.err
	}
	for i, r := range user {
		c, err := r.config()
		if err != nil {
			return Job{}, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		rs.list = append(rs.list, c)
	}
	for role := range j.Rules {
		j.Rules[role] = rs.list
	}
	return j, nil
}

// namespaces keeps the targets of the selected namespaces: any, the listed ones, or the
// object's own.
func (rs *rules) namespaces(sel NamespaceSelector, own string) {
	if sel.Any {
		return
	}
	names := sel.MatchNames
	if len(names) == 0 {
		names = []string{own}
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	rs.keep("__meta_kubernetes_namespace", strings.Join(quoted, "|"))
}
