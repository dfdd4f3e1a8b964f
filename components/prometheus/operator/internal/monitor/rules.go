package monitor

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kind is the kind of monitor.
type Kind int

// Kinds of monitor.
const (
	ServiceMonitor Kind = iota
	PodMonitor
	Probe
)

// Role is the discovery role of a target (its __meta_kubernetes_* labels).
type Role int

// Roles the monitors read: a ServiceMonitor endpointslice or endpoints targets, a
// PodMonitor pod targets.
const (
	RoleNone Role = iota // a target of another role, or of no Kubernetes role
	RolePod
	RoleEndpoints
	RoleEndpointSlice
)

// RoleOf tells the role a target was discovered with.
func RoleOf(ls model.LabelSet) Role {
	switch {
	case ls["__meta_kubernetes_endpointslice_name"] != "":
		return RoleEndpointSlice
	case ls["__meta_kubernetes_endpoints_name"] != "":
		return RoleEndpoints
	case ls["__meta_kubernetes_pod_name"] != "":
		return RolePod
	case ls["__meta_kubernetes_ingress_name"] != "":
		return RoleIngress
	}
	return RoleNone
}

// HonorLabelsLabel marks the targets of endpoints with honorLabels: true, for a
// discovery.relabel in front of a prometheus.scrape with honor_labels. Like every __meta_
// label it is gone from the scraped series.
const HonorLabelsLabel model.LabelName = "__meta_prometheus_operator_honor_labels"

// defaultScrapeTimeout is Prometheus' (and the operator's) default scrape timeout, capped
// at the interval.
const defaultScrapeTimeout = 10 * time.Second

// Job is one endpoint of one monitor, as the operator would write its scrape job.
type Job struct {
	// Name is the operator's job name: serviceMonitor/<ns>/<name>/<i> or podMonitor/…
	Name string
	// Labels are set on a target before the rules run, as Prometheus sets its scrape
	// config's (job, __metrics_path__, __scheme__, __scrape_interval__ …).
	Labels model.LabelSet
	// Rules are the generated rules then the endpoint's relabelings, per target role.
	Rules map[Role][]*relabel.Config
	// Static are the targets the job defines itself (a Probe's static targets), relabelled
	// with Rules[RoleStatic].
	Static []model.LabelSet
}

var invalidLabelChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sanitize makes a Kubernetes label name a Prometheus label name, as the operator does.
func sanitize(name string) string { return invalidLabelChar.ReplaceAllString(name, "_") }

// Jobs returns the scrape jobs of m's endpoints, in order; endpoints that are skipped are
// left out. An error names the field that makes the monitor unusable.
func Jobs(kind Kind, m *Monitor) ([]Job, error) {
	eps, key, prefix, roles := m.Spec.Endpoints, "endpoints", "serviceMonitor", []Role{RoleEndpointSlice, RoleEndpoints}
	if kind == PodMonitor {
		eps, key, prefix, roles = m.Spec.PodMetricsEndpoints, "podMetricsEndpoints", "podMonitor", []Role{RolePod}
	}
	var jobs []Job
	var errs []error
	for i, ep := range eps {
		if _, skip := m.Skipped[i]; skip {
			continue
		}
		name := fmt.Sprintf("%s/%s/%s/%d", prefix, m.Namespace, m.Name, i)
		labels, err := endpointLabels(name, ep)
		if err == nil {
			err = addSettings(labels, m.Settings[i])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.%s[%d].%w", key, i, err))
			continue
		}
		j := Job{Name: name, Labels: labels, Rules: map[Role][]*relabel.Config{}}
		for _, role := range roles {
			rules, err := jobRules(kind, role, m, ep)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.%s[%d]: %w", key, i, err))
				break
			}
			j.Rules[role] = rules
		}
		if len(j.Rules) == len(roles) {
			jobs = append(jobs, j)
		}
	}
	return jobs, errors.Join(errs...)
}

// endpointLabels are the labels Prometheus would set from the job's scrape config.
func endpointLabels(job string, ep Endpoint) (model.LabelSet, error) {
	ls := model.LabelSet{
		model.JobLabel:         model.LabelValue(job),
		model.MetricsPathLabel: "/metrics",
		model.SchemeLabel:      "http",
	}
	if ep.Path != "" {
		if !strings.HasPrefix(ep.Path, "/") {
			return nil, fmt.Errorf("path: must start with /, got %q", ep.Path)
		}
		ls[model.MetricsPathLabel] = model.LabelValue(ep.Path)
	}
	if ep.Scheme != "" {
		s := strings.ToLower(ep.Scheme)
		if s != "http" && s != "https" {
			return nil, fmt.Errorf("scheme: must be http or https, got %q", ep.Scheme)
		}
		ls[model.SchemeLabel] = model.LabelValue(s)
	}
	var interval, timeout model.Duration
	var err error
	if ep.Interval != "" {
		if interval, err = model.ParseDuration(ep.Interval); err != nil || interval <= 0 {
			return nil, fmt.Errorf("interval: %q is not a positive duration", ep.Interval)
		}
		ls[model.ScrapeIntervalLabel] = model.LabelValue(interval.String())
		// Prometheus rejects a target whose timeout is longer than its interval; the
		// scrape component's own timeout may be, so the default is set here.
		ls[model.ScrapeTimeoutLabel] = model.LabelValue(min(model.Duration(defaultScrapeTimeout), interval).String())
	}
	if ep.ScrapeTimeout != "" {
		if timeout, err = model.ParseDuration(ep.ScrapeTimeout); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("scrapeTimeout: %q is not a positive duration", ep.ScrapeTimeout)
		}
		if interval > 0 && timeout > interval {
			return nil, fmt.Errorf("scrapeTimeout: %s is longer than interval %s", timeout, interval)
		}
		ls[model.ScrapeTimeoutLabel] = model.LabelValue(timeout.String())
	}
	for k, vs := range ep.Params {
		if len(vs) > 0 {
			ls[model.LabelName(model.ParamLabelPrefix+k)] = model.LabelValue(vs[0])
		}
	}
	if ep.HonorLabels {
		ls[HonorLabelsLabel] = "true"
	}
	return ls, nil
}

// addSettings adds the SettingsLabel of s, if any.
func addSettings(labels model.LabelSet, s *Settings) error {
	v, err := s.label()
	if err != nil {
		return err
	}
	if v != "" {
		labels[SettingsLabel] = v
	}
	return nil
}

// jobRules builds the operator's relabelling for one endpoint and target role: select the
// monitor's namespaces, objects and port, set namespace/service/pod/container/endpoint/job
// and the target labels, then the endpoint's own relabelings.
func jobRules(kind Kind, role Role, m *Monitor, ep Endpoint) ([]*relabel.Config, error) {
	var rs rules
	rs.copy(model.JobLabel, "__tmp_prometheus_job_name")

	// Namespaces: the operator restricts its discovery to them; here targets of other
	// namespaces are dropped.
	rs.namespaces(m.Spec.NamespaceSelector, m.Namespace)

	object := "service"
	if kind == PodMonitor {
		object = "pod"
		if ep.FilterRunning == nil || *ep.FilterRunning {
			rs.drop("__meta_kubernetes_pod_phase", "(Failed|Succeeded)")
		}
	}
	if err := rs.selector(object, m.Spec.Selector); err != nil {
		return nil, err
	}

	// The port.
	endpointLabel := ""
	switch {
	case ep.Port != "":
		src := "__meta_kubernetes_pod_container_port_name"
		switch role {
		case RoleEndpointSlice:
			src = "__meta_kubernetes_endpointslice_port_name"
		case RoleEndpoints:
			src = "__meta_kubernetes_endpoint_port_name"
		}
		rs.keep(model.LabelName(src), ep.Port)
		endpointLabel = ep.Port
	case kind == PodMonitor && ep.PortNumber != 0:
		rs.keep("__meta_kubernetes_pod_container_port_number", fmt.Sprint(ep.PortNumber))
	case ep.TargetPort != nil:
		if ep.TargetPort.StrVal != "" {
			rs.keep("__meta_kubernetes_pod_container_port_name", ep.TargetPort.StrVal)
		} else if ep.TargetPort.IntVal != 0 {
			rs.keep("__meta_kubernetes_pod_container_port_number", fmt.Sprint(ep.TargetPort.IntVal))
		}
		endpointLabel = ep.TargetPort.String()
	}

	// The default target labels.
	if kind == ServiceMonitor {
		prefix := "__meta_kubernetes_endpointslice_address_target_"
		if role == RoleEndpoints {
			prefix = "__meta_kubernetes_endpoint_address_target_"
		}
		kindName := model.LabelNames{model.LabelName(prefix + "kind"), model.LabelName(prefix + "name")}
		rs.add(relabel.Config{SourceLabels: kindName, Regex: relabel.MustNewRegexp("Node;(.*)"), Replacement: "${1}", TargetLabel: "node"})
		rs.add(relabel.Config{SourceLabels: kindName, Regex: relabel.MustNewRegexp("Pod;(.*)"), Replacement: "${1}", TargetLabel: "pod"})
		rs.copy("__meta_kubernetes_namespace", "namespace")
		rs.copy("__meta_kubernetes_service_name", "service")
		rs.copy("__meta_kubernetes_pod_name", "pod")
		rs.copy("__meta_kubernetes_pod_container_name", "container")
		if ep.FilterRunning == nil || *ep.FilterRunning {
			rs.drop("__meta_kubernetes_pod_phase", "(Failed|Succeeded)")
		}
		for _, l := range m.Spec.TargetLabels {
			rs.copyNonEmpty("__meta_kubernetes_service_label_"+sanitize(l), sanitize(l))
		}
	} else {
		rs.copy("__meta_kubernetes_namespace", "namespace")
		rs.copy("__meta_kubernetes_pod_container_name", "container")
		rs.copy("__meta_kubernetes_pod_name", "pod")
	}
	for _, l := range m.Spec.PodTargetLabels {
		rs.copyNonEmpty("__meta_kubernetes_pod_label_"+sanitize(l), sanitize(l))
	}

	// The job: the service's name or the monitor's namespace/name, or the jobLabel's
	// value where the object has it.
	if kind == ServiceMonitor {
		rs.add(relabel.Config{SourceLabels: model.LabelNames{"__meta_kubernetes_service_name"}, TargetLabel: "job", Replacement: "${1}"})
	} else {
		rs.add(relabel.Config{TargetLabel: "job", Replacement: m.Namespace + "/" + m.Name})
	}
	if m.Spec.JobLabel != "" {
		rs.copyNonEmpty("__meta_kubernetes_"+object+"_label_"+sanitize(m.Spec.JobLabel), "job")
	}
	if endpointLabel != "" {
		rs.add(relabel.Config{TargetLabel: "endpoint", Replacement: endpointLabel})
	}
	if rs.err != nil {
		return nil, rs.err
	}

	for i, r := range ep.Relabelings {
		c, err := r.config()
		if err != nil {
			return nil, fmt.Errorf("relabelings[%d]: %w", i, err)
		}
		rs.list = append(rs.list, c)
	}
	return rs.list, nil
}

// rules collects generated rules; the first bad regex (from a selector or a port written
// by the user) is kept in err.
type rules struct {
	list []*relabel.Config
	err  error
}

func (rs *rules) add(c relabel.Config) {
	if c.Action == "" {
		c.Action = relabel.Replace
	}
	if c.Regex.Regexp == nil {
		c.Regex = relabel.DefaultRelabelConfig.Regex
	}
	if c.Separator == "" {
		c.Separator = ";"
	}
	c.NameValidationScheme = model.UTF8Validation
	rs.list = append(rs.list, &c)
}

func (rs *rules) match(action relabel.Action, regex string, src ...model.LabelName) {
	re, err := relabel.NewRegexp(regex)
	if err != nil {
		if rs.err == nil {
			rs.err = fmt.Errorf("regex %q from %s: %w", regex, src[0], err)
		}
		return
	}
	rs.add(relabel.Config{SourceLabels: src, Regex: re, Action: action})
}

func (rs *rules) keep(src model.LabelName, regex string) { rs.match(relabel.Keep, regex, src) }
func (rs *rules) drop(src model.LabelName, regex string) { rs.match(relabel.Drop, regex, src) }

func (rs *rules) copy(src, dst string) {
	rs.add(relabel.Config{SourceLabels: model.LabelNames{model.LabelName(src)}, TargetLabel: dst, Replacement: "$1"})
}

func (rs *rules) copyNonEmpty(src, dst string) {
	rs.add(relabel.Config{SourceLabels: model.LabelNames{model.LabelName(src)}, TargetLabel: dst,
		Regex: relabel.MustNewRegexp("(.+)"), Replacement: "${1}"})
}

// selector keeps the targets whose object (service or pod) the label selector selects, as
// the operator does: with the object's label and labelpresent meta labels.
func (rs *rules) selector(object string, sel metav1.LabelSelector) error {
	label := func(k string) model.LabelName {
		return model.LabelName("__meta_kubernetes_" + object + "_label_" + sanitize(k))
	}
	present := func(k string) model.LabelName {
		return model.LabelName("__meta_kubernetes_" + object + "_labelpresent_" + sanitize(k))
	}
	for _, k := range sortedKeys(anyMap(sel.MatchLabels)) {
		rs.match(relabel.Keep, "("+sel.MatchLabels[k]+");true", label(k), present(k))
	}
	for i, e := range sel.MatchExpressions {
		values := "(" + strings.Join(e.Values, "|") + ");true"
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			rs.match(relabel.Keep, values, label(e.Key), present(e.Key))
		case metav1.LabelSelectorOpNotIn:
			rs.match(relabel.Drop, values, label(e.Key), present(e.Key))
		case metav1.LabelSelectorOpExists:
			rs.match(relabel.Keep, "true", present(e.Key))
		case metav1.LabelSelectorOpDoesNotExist:
			rs.match(relabel.Drop, "true", present(e.Key))
		default:
			return fmt.Errorf("selector.matchExpressions[%d].operator: unknown operator %q", i, e.Operator)
		}
	}
	return nil
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// config converts an operator relabelling rule to Prometheus', with Prometheus' defaults.
func (r RelabelConfig) config() (*relabel.Config, error) {
	c := relabel.DefaultRelabelConfig
	c.NameValidationScheme = model.UTF8Validation
	for _, s := range r.SourceLabels {
		c.SourceLabels = append(c.SourceLabels, model.LabelName(s))
	}
	if r.Separator != nil {
		c.Separator = *r.Separator
	}
	c.TargetLabel = r.TargetLabel
	if r.Regex != "" {
		re, err := relabel.NewRegexp(r.Regex)
		if err != nil {
			return nil, fmt.Errorf("regex: %w", err)
		}
		c.Regex = re
	}
	c.Modulus = r.Modulus
	if r.Replacement != nil {
		c.Replacement = *r.Replacement
	}
	if r.Action != "" {
		// Action's YAML decoding is what rejects an unknown action.
		if err := c.Action.UnmarshalYAML(func(v any) error { *v.(*string) = r.Action; return nil }); err != nil {
			return nil, fmt.Errorf("action: %w", err)
		}
	}
	if err := c.Validate(model.UTF8Validation); err != nil {
		return nil, err
	}
	return &c, nil
}
