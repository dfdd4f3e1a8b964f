package shard

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// DefaultSelector matches the pods of sonde's DaemonSet (the Helm chart and manifests
// label them so).
const DefaultSelector = "app.kubernetes.io/name=sonde"

// Arguments configure discovery.shard.
//
//	discovery.shard/cluster:
//	  targets: [discovery.relabel/annotated_services]
//	  # namespace, selector and pod_name default to POD_NAMESPACE, the chart's labels and POD_NAME
type Arguments struct {
	// Targets are the ids of the components whose targets are shared out.
	Targets []string `yaml:"targets"`
	// Namespace is where sonde's DaemonSet runs; empty: $POD_NAMESPACE, else the service
	// account's namespace.
	Namespace string `yaml:"namespace"`
	// Selector is the label selector of sonde's DaemonSet pods.
	Selector string `yaml:"selector"`
	// PodName is this agent's pod; empty: $POD_NAME.
	PodName string `yaml:"pod_name"`

	kube.ClientArgs `yaml:",inline"`
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments {
	return &Arguments{Selector: DefaultSelector, ClientArgs: kube.DefaultClientArgs()}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.Targets) == 0 {
		errs = append(errs, pipeline.Field("targets", "at least one component id is required"))
	}
	for i, id := range a.Targets {
		if id == "" {
			errs = append(errs, pipeline.Field("targets", "entry %d is empty", i))
		}
	}
	if a.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(a.Namespace) {
			errs = append(errs, pipeline.Field("namespace", "%q: %s", a.Namespace, msg))
		}
	}
	if sel, err := labels.Parse(a.Selector); err != nil {
		errs = append(errs, pipeline.Field("selector", "%w", err))
	} else if sel.Empty() {
		errs = append(errs, pipeline.Field("selector", "must not be empty: it selects sonde's own pods"))
	}
	if a.PodName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(a.PodName) {
			errs = append(errs, pipeline.Field("pod_name", "%q: %s", a.PodName, msg))
		}
	}
	errs = append(errs, a.ClientArgs.Validate(pipeline.Field))
	return errors.Join(errs...)
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets}}
}

// resolve fills namespace and pod name from the environment.
func (a *Arguments) resolve() (namespace, pod string, err error) {
	namespace, pod = a.Namespace, a.PodName
	if namespace == "" {
		if namespace, err = kube.OwnNamespace(); err != nil {
			return "", "", pipeline.Field("namespace", "%w", err)
		}
	}
	if pod == "" {
		if pod = os.Getenv("POD_NAME"); pod == "" {
			return "", "", pipeline.Field("pod_name", "empty and POD_NAME is not set (give the pod its name with the downward API)")
		}
	}
	if msgs := validation.IsDNS1123Subdomain(pod); len(msgs) > 0 {
		return "", "", pipeline.Field("pod_name", "%q: %s", pod, fmt.Sprint(msgs))
	}
	return namespace, pod, nil
}
