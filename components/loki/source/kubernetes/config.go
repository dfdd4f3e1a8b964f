package kubernetes

import (
	"errors"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure loki.source.kubernetes.
//
//	loki.source.kubernetes/pods:
//	  kubeconfig_file: /home/me/.kube/config
//	  namespaces: [shop]
//	  selector: app=cart
//	  forward_to: [loki.write/default]
type Arguments struct {
	// Namespaces are the namespaces whose pods are followed; empty: all namespaces.
	Namespaces []string `yaml:"namespaces"`
	// Selector is a label selector the pods must match (sent to the API server); empty: all.
	Selector string `yaml:"selector"`
	// Node restricts the pods to those scheduled on one node (field selector
	// spec.nodeName=<node>); empty: every node.
	Node string `yaml:"node"`
	// ForwardTo are the components the entries are sent to (they must accept logs).
	ForwardTo []string `yaml:"forward_to"`

	// ClientArgs say how to reach the API server, as for discovery.kubernetes.
	kube.ClientArgs `yaml:",inline"`
}

// DefaultArguments returns Arguments with their defaults: every pod of every namespace, through
// the in-cluster client.
func DefaultArguments() *Arguments {
	return &Arguments{ClientArgs: kube.DefaultClientArgs()}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, kube.ValidateNamespaces("namespaces", a.Namespaces, pipeline.Field)...)
	if _, err := labels.Parse(a.Selector); err != nil {
		add(pipeline.Field("selector", "%w", err))
	}
	if a.Node != "" {
		for _, msg := range validation.IsDNS1123Subdomain(a.Node) {
			add(pipeline.Field("node", "%q: %s", a.Node, msg))
		}
	}
	if len(a.ForwardTo) == 0 {
		add(pipeline.Field("forward_to", "at least one component is required"))
	}
	add(a.ClientArgs.Validate(pipeline.Field))
	return errors.Join(errs...)
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindLogs, IDs: a.ForwardTo}}
}

// informerKeys are the pod informers the arguments ask for: one per namespace (one for all
// namespaces when none is given).
func (a *Arguments) informerKeys() []kube.InformerKey {
	var field string
	if a.Node != "" {
		field = "spec.nodeName=" + a.Node
	}
	namespaces := a.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	keys := make([]kube.InformerKey, 0, len(namespaces))
	for _, ns := range namespaces {
		keys = append(keys, kube.InformerKey{Resource: kube.Pods, Namespace: ns, LabelSelector: a.Selector, FieldSelector: field})
	}
	return keys
}
