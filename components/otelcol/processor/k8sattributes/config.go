package k8sattributes

import (
	"errors"

	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.processor.k8sattributes.
//
//	discovery.kubernetes/pods:
//	  role: pod
//	  node: ${NODE_NAME}
//	otelcol.processor.k8sattributes/default:
//	  pods: [discovery.kubernetes/pods]
//	  output: {traces: [otelcol.processor.batch/default]}
//
// The pod of each resource is found, in this order, by its k8s.pod.uid attribute, its
// k8s.pod.ip attribute (a sidecar or proxy between the application and sonde sets one),
// or the source IP of the connection the data came on. Attributes the data already has
// are kept.
type Arguments struct {
	// Pods are components publishing the pod targets of Prometheus' Kubernetes discovery
	// (discovery.kubernetes with role: pod, restricted to this node): the node-local pod
	// cache, so enrichment adds no watch of its own.
	Pods []string `yaml:"pods"`
	// FromConnection finds pods by the connection's source IP (default true). Turn it off
	// when everything arrives through a proxy whose address means nothing.
	FromConnection bool `yaml:"from_connection"`
	// Output names the components that receive the data, with its attributes added, per signal.
	Output otelcol.Output `yaml:"output"`
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments { return &Arguments{FromConnection: true} }

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	refs := a.Output.References("output")
	if len(a.Pods) > 0 {
		refs = append(refs, pipeline.Reference{Field: "pods", Kind: pipeline.KindTargets, IDs: a.Pods})
	}
	return refs
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.Pods) == 0 {
		errs = append(errs, pipeline.Field("pods", "at least one component publishing pod targets is required (discovery.kubernetes with role: pod)"))
	}
	if a.Output.Empty() {
		errs = append(errs, pipeline.Field("output", "at least one of traces, metrics and logs is required"))
	}
	return errors.Join(errs...)
}
