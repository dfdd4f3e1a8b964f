// Package probes implements prometheus.operator.probes: it reads the Prometheus Operator's
// Probes (monitoring.coreos.com/v1) from the API server and publishes the targets each
// describes, as the operator's generated scrape job relabels them: the prober's address,
// path and scheme, the module and params as URL parameters, each static target or Ingress
// host and path in the target parameter and the instance label, job probe/<ns>/<name> (or
// spec.jobName), then the targets' relabelingConfigs. Probe targets are cluster-wide: put
// a discovery.shard behind it so that each is probed by one agent.
package probes

import (
	"github.com/sondehq/sonde/components/prometheus/operator/internal/monitor"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares prometheus.operator.probes.
var Registration = pipeline.Register("prometheus.operator.probes", DefaultArguments, New, pipeline.KindTargets)

// Arguments configure prometheus.operator.probes.
//
//	prometheus.operator.probes/default: {}
//	discovery.shard/probes:
//	  targets: [prometheus.operator.probes/default]
type Arguments struct {
	// Namespaces are the namespaces Probes are read from; empty: all.
	Namespaces []string `yaml:"namespaces"`
	// Selector is a label selector on the Probe objects (e.g. "release=prod"); empty: every
	// Probe.
	Selector string `yaml:"selector"`

	kube.ClientArgs `yaml:",inline"`
}

// DefaultArguments returns Arguments with their defaults (in-cluster client).
func DefaultArguments() *Arguments { return &Arguments{ClientArgs: kube.DefaultClientArgs()} }

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	return monitor.ValidateObjects(a.Namespaces, a.Selector, &a.ClientArgs)
}

func (a *Arguments) config() monitor.Config {
	return monitor.Config{Kind: monitor.Probe, Namespaces: a.Namespaces, Selector: a.Selector, Client: a.ClientArgs}
}

// Component is a running prometheus.operator.probes.
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
