package kubernetes

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Role is the kind of object discovered, as in Prometheus' kubernetes_sd_config.
type Role string

// Roles discovery.kubernetes supports.
const (
	RolePod           Role = "pod"
	RoleNode          Role = "node"
	RoleService       Role = "service"
	RoleEndpoints     Role = "endpoints"
	RoleEndpointSlice Role = "endpointslice"
)

var roles = []Role{RolePod, RoleNode, RoleService, RoleEndpoints, RoleEndpointSlice}

// selectorRoles are the selector roles each role accepts (as in Prometheus).
var selectorRoles = map[Role][]Role{
	RolePod:           {RolePod, RoleNode},
	RoleNode:          {RoleNode},
	RoleService:       {RoleService},
	RoleEndpoints:     {RolePod, RoleService, RoleEndpoints},
	RoleEndpointSlice: {RolePod, RoleService, RoleEndpointSlice},
}

// Arguments configure discovery.kubernetes. They follow Prometheus' kubernetes_sd_config
// (role, namespaces, selectors, attach_metadata, kubeconfig_file, api_server and the
// inline HTTP client settings), plus node.
//
//	discovery.kubernetes/pods:
//	  role: pod
//	  node: ${NODE_NAME}
type Arguments struct {
	// Role is what is discovered: pod, node, service, endpoints or endpointslice.
	Role Role `yaml:"role"`
	// Namespaces restricts namespaced roles; empty: all namespaces.
	Namespaces NamespaceDiscovery `yaml:"namespaces"`
	// Selectors are label and field selectors sent to the API server, per object role.
	Selectors []Selector `yaml:"selectors"`
	// Node restricts discovery to one node: pod watches carry the field selector
	// spec.nodeName=<node> (so a DaemonSet agent never lists the cluster's pods), the node
	// role watches only that node, and the endpoints roles keep only endpoints on it.
	// Empty: the whole cluster. The daemonset preset sets it from NODE_NAME.
	Node string `yaml:"node"`
	// AttachMetadata adds node, namespace, deployment, job or cronjob labels to targets.
	AttachMetadata AttachMetadata `yaml:"attach_metadata"`

	kube.ClientArgs `yaml:",inline"`
}

// NamespaceDiscovery selects namespaces, as in Prometheus.
type NamespaceDiscovery struct {
	// Names are the namespaces watched; empty: all.
	Names []string `yaml:"names"`
	// OwnNamespace adds the namespace sonde runs in.
	OwnNamespace bool `yaml:"own_namespace"`
}

// Selector is a label and/or field selector for one object role, as in Prometheus.
type Selector struct {
	// Role is the object role the selectors apply to, one selector per role: the
	// component's own role or a related one (node for pod; pod and service for endpoints
	// and endpointslice).
	Role Role `yaml:"role"`
	// Label is a label selector, e.g. "app=cart,tier!=test"; empty: every object.
	Label string `yaml:"label"`
	// Field is a field selector, e.g. "status.phase=Running"; empty: every object.
	Field string `yaml:"field"`
}

// AttachMetadata adds metadata of related objects to targets, as in Prometheus.
type AttachMetadata struct {
	// Node adds __meta_kubernetes_node_* labels (roles pod, endpoints, endpointslice).
	Node bool `yaml:"node"`
	// Namespace adds __meta_kubernetes_namespace_label_*/annotation_* labels.
	Namespace bool `yaml:"namespace"`
	// Deployment adds __meta_kubernetes_pod_deployment_name (pods of ReplicaSets).
	Deployment bool `yaml:"deployment"`
	// Job adds __meta_kubernetes_pod_job_name.
	Job bool `yaml:"job"`
	// CronJob adds __meta_kubernetes_pod_cronjob_name.
	CronJob bool `yaml:"cronjob"`
}

// DefaultArguments returns Arguments with their defaults (role pod, in-cluster client).
func DefaultArguments() *Arguments {
	return &Arguments{Role: RolePod, ClientArgs: kube.DefaultClientArgs()}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if !slices.Contains(roles, a.Role) {
		add(pipeline.Field("role", "must be one of pod, node, service, endpoints, endpointslice; got %q", a.Role))
	}
	errs = append(errs, kube.ValidateNamespaces("namespaces.names", a.Namespaces.Names, pipeline.Field)...)
	if a.Namespaces.OwnNamespace && a.ClientArgs.Mode() != "in-cluster" {
		add(pipeline.Field("namespaces.own_namespace", "needs the in-cluster client (no kubeconfig_file or api_server)"))
	}
	seen := map[Role]bool{}
	for i, s := range a.Selectors {
		field := fmt.Sprintf("selectors[%d]", i)
		if seen[s.Role] {
			add(pipeline.Field(field+".role", "duplicate selector role %q", s.Role))
		}
		seen[s.Role] = true
		if allowed, ok := selectorRoles[a.Role]; ok && !slices.Contains(allowed, s.Role) {
			add(pipeline.Field(field+".role", "role %s accepts selectors for %s only, got %q", a.Role, joinRoles(allowed), s.Role))
		}
		if _, err := labels.Parse(s.Label); err != nil {
			add(pipeline.Field(field+".label", "%w", err))
		}
		if _, err := fields.ParseSelector(s.Field); err != nil {
			add(pipeline.Field(field+".field", "%w", err))
		}
	}
	if a.Node != "" {
		for _, msg := range validation.IsDNS1123Subdomain(a.Node) {
			add(pipeline.Field("node", "%q: %s", a.Node, msg))
		}
		if a.Role == RoleService {
			add(pipeline.Field("node", "does not apply to role service"))
		}
	}
	if (a.AttachMetadata.Deployment || a.AttachMetadata.Job || a.AttachMetadata.CronJob) && a.Role == RoleNode {
		add(pipeline.Field("attach_metadata", "deployment, job and cronjob do not apply to role node"))
	}
	add(a.ClientArgs.Validate(pipeline.Field))
	return errors.Join(errs...)
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// selector returns the label and field selectors for objects of role r, with the node
// restriction added: pods get spec.nodeName=<node>, nodes metadata.name=<node>.
func (a *Arguments) selector(r Role) (label, field string) {
	for _, s := range a.Selectors {
		if s.Role == r {
			label, field = s.Label, s.Field
		}
	}
	if a.Node == "" {
		return label, field
	}
	var restrict string
	switch r {
	case RolePod:
		restrict = "spec.nodeName=" + a.Node
	case RoleNode:
		restrict = "metadata.name=" + a.Node
	default:
		return label, field
	}
	if field == "" {
		return label, restrict
	}
	return label, field + "," + restrict
}
