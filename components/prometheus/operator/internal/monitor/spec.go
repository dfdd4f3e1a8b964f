// Package monitor reads Prometheus Operator monitors (monitoring.coreos.com/v1
// ServiceMonitor and PodMonitor) and turns each endpoint of each monitor into the target
// relabelling the operator generates for it, applied to discovered targets: the shared
// code of prometheus.operator.servicemonitors and prometheus.operator.podmonitors.
//
// The monitors are decoded from unstructured objects into the small structs below, only
// the fields sonde supports; fields it does not support are reported (see Unsupported),
// never silently taken as something else.
package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Monitor is the supported subset of a ServiceMonitor or PodMonitor.
type Monitor struct {
	Namespace, Name string
	Spec            Spec
	// Ignored lists the fields that are set but not supported and do not change which
	// targets are scraped or how they are reached ("spec.sampleLimit",
	// "spec.endpoints[0].metricRelabelings"): they are reported and otherwise ignored.
	Ignored []string
	// Skipped holds, per endpoint index, why an endpoint is not scraped: it sets a field
	// that changes how its targets are reached (a proxy, OAuth2, a file on the operator's
	// Prometheus), and scraping it without would fail or reach the wrong thing.
	Skipped map[int]string
	// Settings holds, per endpoint index, its metric relabelling, TLS and credentials.
	Settings map[int]*Settings
}

// Spec is the supported subset of a monitor's spec.
type Spec struct {
	JobLabel          string               `json:"jobLabel"`
	TargetLabels      []string             `json:"targetLabels"`
	PodTargetLabels   []string             `json:"podTargetLabels"`
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector NamespaceSelector    `json:"namespaceSelector"`
	// Endpoints of a ServiceMonitor; PodMetricsEndpoints of a PodMonitor.
	Endpoints           []Endpoint `json:"endpoints"`
	PodMetricsEndpoints []Endpoint `json:"podMetricsEndpoints"`
}

// NamespaceSelector is the operator's: any namespace, listed ones, or (neither) the
// monitor's own.
type NamespaceSelector struct {
	Any        bool     `json:"any"`
	MatchNames []string `json:"matchNames"`
}

// Endpoint is the supported subset of a ServiceMonitor endpoint or PodMonitor
// podMetricsEndpoint.
type Endpoint struct {
	Port          string              `json:"port"`
	PortNumber    int32               `json:"portNumber"` // PodMonitor only
	TargetPort    *intstr.IntOrString `json:"targetPort"`
	Path          string              `json:"path"`
	Scheme        string              `json:"scheme"`
	Params        map[string][]string `json:"params"`
	Interval      string              `json:"interval"`
	ScrapeTimeout string              `json:"scrapeTimeout"`
	HonorLabels   bool                `json:"honorLabels"`
	FilterRunning *bool               `json:"filterRunning"`
	Relabelings   []RelabelConfig     `json:"relabelings"`
}

// RelabelConfig is the operator's relabelling rule (camelCase keys).
type RelabelConfig struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    *string  `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Modulus      uint64   `json:"modulus,omitempty"`
	Replacement  *string  `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

// Fields of a monitor's spec and endpoints that sonde reads; decodeSpec reports the others.
var (
	specFields = []string{"jobLabel", "targetLabels", "podTargetLabels", "selector", "namespaceSelector",
		"endpoints", "podMetricsEndpoints"}
	endpointFields = []string{"port", "portNumber", "targetPort", "path", "scheme", "params", "interval",
		"scrapeTimeout", "honorLabels", "filterRunning", "relabelings"}
	// connectionFields change how a target is reached and are not supported: an endpoint
	// setting one is skipped.
	connectionFields = []string{"bearerTokenFile", "oauth2", "proxyUrl", "proxyURL", "noProxy",
		"proxyFromEnvironment", "proxyConnectHeader"}
)

// Decode reads a monitor from an unstructured object; endpointsKey is "endpoints"
// (ServiceMonitor) or "podMetricsEndpoints" (PodMonitor). An error means the object cannot
// be used at all (a spec that does not have the CRD's shape).
func Decode(u *unstructured.Unstructured, endpointsKey string) (*Monitor, error) {
	m := &Monitor{Namespace: u.GetNamespace(), Name: u.GetName(), Skipped: map[int]string{}, Settings: map[int]*Settings{}}
	raw, _, _ := unstructured.NestedMap(u.Object, "spec")
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if err := json.Unmarshal(b, &m.Spec); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	for _, k := range sortedKeys(raw) {
		if !slices.Contains(specFields, k) {
			m.Ignored = append(m.Ignored, "spec."+k)
		}
	}
	eps, _ := raw[endpointsKey].([]any)
	for i, e := range eps {
		ep, _ := e.(map[string]any)
		for _, k := range sortedKeys(ep) {
			path := fmt.Sprintf("spec.%s[%d].%s", endpointsKey, i, k)
			switch {
			case slices.Contains(endpointFields, k), slices.Contains(settingsFields, k):
			case slices.Contains(connectionFields, k):
				if _, done := m.Skipped[i]; !done {
					m.Skipped[i] = path + " is not supported"
				}
			default:
				m.Ignored = append(m.Ignored, path)
			}
		}
		st, err := decodeSettings(ep, m.Namespace, fmt.Sprintf("spec.%s[%d]", endpointsKey, i))
		switch {
		case err != nil:
			if _, done := m.Skipped[i]; !done {
				m.Skipped[i] = err.Error()
			}
		case !st.IsZero():
			m.Settings[i] = st
		}
	}
	return m, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Validate checks the arguments the monitors components share.
func Validate(targetIDs, namespaces []string, selector string, client *kube.ClientArgs) error {
	var errs []error
	if len(targetIDs) == 0 {
		errs = append(errs, pipeline.Field("targets", "at least one component id is required"))
	}
	for i, id := range targetIDs {
		if id == "" {
			errs = append(errs, pipeline.Field("targets", "entry %d is empty", i))
		}
	}
	errs = append(errs, ValidateObjects(namespaces, selector, client))
	return errors.Join(errs...)
}

// ValidateObjects checks the arguments that say which objects are read.
func ValidateObjects(namespaces []string, selector string, client *kube.ClientArgs) error {
	errs := kube.ValidateNamespaces("namespaces", namespaces, pipeline.Field)
	if _, err := labels.Parse(selector); err != nil {
		errs = append(errs, pipeline.Field("selector", "%w", err))
	}
	errs = append(errs, client.Validate(pipeline.Field))
	return errors.Join(errs...)
}
