// Package servicemonitors implements prometheus.operator.servicemonitors: it reads the
// Prometheus Operator's ServiceMonitors (monitoring.coreos.com/v1) from the API server and
// publishes, from the endpointslice (or endpoints) targets of discovery.kubernetes, the
// targets each ServiceMonitor endpoint selects, relabelled as the operator's generated
// scrape job relabels them (job, namespace, service, pod, container, endpoint, then the
// endpoint's relabelings), with its path, scheme, interval, timeout and params as target
// labels for prometheus.scrape.
package servicemonitors

import (
	"github.com/sondehq/sonde/components/prometheus/operator/internal/monitor"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.operator.servicemonitors.
var Registration = pipeline.Register("prometheus.operator.servicemonitors", DefaultArguments, New, pipeline.KindTargets)

// Arguments configure prometheus.operator.servicemonitors.
//
//	prometheus.operator.servicemonitors/default:
//	  targets: [discovery.kubernetes/endpointslices]   # role: endpointslice
type Arguments struct {
	// Targets are the ids of the components whose targets the ServiceMonitors select from:
	// discovery.kubernetes with role endpointslice (or endpoints).
	Targets []string `yaml:"targets"`
	// Namespaces are the namespaces ServiceMonitors are read from; empty: all.
	Namespaces []string `yaml:"namespaces"`
	// Selector is a label selector on the ServiceMonitor objects (e.g. "release=prod");
	// empty: every ServiceMonitor.
	Selector string `yaml:"selector"`

	kube.ClientArgs `yaml:",inline"`
}

// DefaultArguments returns Arguments with their defaults (in-cluster client).
func DefaultArguments() *Arguments { return &Arguments{ClientArgs: kube.DefaultClientArgs()} }

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	return monitor.Validate(a.Targets, a.Namespaces, a.Selector, &a.ClientArgs)
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets}}
}

func (a *Arguments) config() monitor.Config {
	return monitor.Config{Kind: monitor.ServiceMonitor, Targets: a.Targets, Namespaces: a.Namespaces, Selector: a.Selector, Client: a.ClientArgs}
}

// Component is a running prometheus.operator.servicemonitors.
type Component struct{ *monitor.Component }

var _ pipeline.Updater[*Arguments] = (*Component)(nil)

// New builds the component; it starts nothing.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	c, err := monitor.New(opts, args.config())
	if err != nil {
		return nil, err
	}
	return &Component{c}, nil
}

// Update implements pipeline.Updater.
func (c *Component) Update(args *Arguments) error {
	c.Component.Update(args.config())
	return nil
}
