// Package podmonitors implements prometheus.operator.podmonitors: it reads the
// Prometheus Operator's PodMonitors (monitoring.coreos.com/v1) from the API server and
// publishes, from the pod targets of discovery.kubernetes (node-local in a DaemonSet: its
// node: restricts them to this agent's node), the targets each PodMonitor endpoint
// selects, relabelled as the operator's generated scrape job relabels them (job,
// namespace, pod, container, endpoint, then the endpoint's relabelings), with its path,
// scheme, interval, timeout and params as target labels for prometheus.scrape.
package podmonitors

import (
	"github.com/sondehq/sonde/components/prometheus/operator/internal/monitor"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.operator.podmonitors.
var Registration = pipeline.Register("prometheus.operator.podmonitors", DefaultArguments, New, pipeline.KindTargets)

// Arguments configure prometheus.operator.podmonitors.
//
//	prometheus.operator.podmonitors/default:
//	  targets: [discovery.kubernetes/pods]   # role: pod, node: ${NODE_NAME}
type Arguments struct {
	// Targets are the ids of the components whose targets the PodMonitors select from:
	// discovery.kubernetes with role pod (and node set, for a DaemonSet agent).
	Targets []string `yaml:"targets"`
	// Namespaces are the namespaces PodMonitors are read from; empty: all.
	Namespaces []string `yaml:"namespaces"`
	// Selector is a label selector on the PodMonitor objects (e.g. "release=prod");
	// empty: every PodMonitor.
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
	return monitor.Config{Kind: monitor.PodMonitor, Targets: a.Targets, Namespaces: a.Namespaces, Selector: a.Selector, Client: a.ClientArgs}
}

// Component is a running prometheus.operator.podmonitors.
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
