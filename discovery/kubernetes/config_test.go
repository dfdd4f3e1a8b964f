package kubernetes

import (
	"bytes"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// decode decodes YAML strictly into fresh Arguments (with defaults), as the loader does.
func decode(t testing.TB, text string) *Arguments {
	t.Helper()
	args := Registration.Args().(*Arguments)
	dec := yaml.NewDecoder(bytes.NewBufferString(text))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(args))
	return args
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		fields []string
	}{
		{name: "defaults", yaml: "{}"},
		{name: "daemonset pods", yaml: "role: pod\nnode: node-1\n"},
		{name: "full", yaml: `
role: endpointslice
namespaces: {names: [default, kube-system]}
selectors:
  - {role: pod, label: "app=web", field: "status.phase=Running"}
  - {role: service, label: "team in (a,b)"}
attach_metadata: {node: true, namespace: true, deployment: true, job: true, cronjob: true}
api_server: https://10.0.0.1:6443
bearer_token_file: /var/run/token
tls_config: {ca_file: /var/run/ca.crt}
`},
		{name: "kubeconfig", yaml: "role: node\nkubeconfig_file: /home/me/.kube/config\n"},
		{name: "unknown role", yaml: "role: ingress\n", fields: []string{"role"}},
		{name: "bad namespace", yaml: "namespaces: {names: [Bad_NS]}\n", fields: []string{"namespaces.names[0]"}},
		{name: "own namespace out of cluster", yaml: "namespaces: {own_namespace: true}\nkubeconfig_file: /k\n",
			fields: []string{"namespaces.own_namespace"}},
		{name: "selector role not allowed", yaml: "role: node\nselectors: [{role: pod, label: a=b}]\n", fields: []string{"selectors[0].role"}},
		{name: "duplicate selector", yaml: "selectors: [{role: pod}, {role: pod}]\n", fields: []string{"selectors[1].role"}},
		{name: "bad label selector", yaml: "selectors: [{role: pod, label: 'a in'}]\n", fields: []string{"selectors[0].label"}},
		{name: "bad field selector", yaml: "selectors: [{role: pod, field: 'x'}]\n", fields: []string{"selectors[0].field"}},
		{name: "node is not a name", yaml: "node: 'a,b=c'\n", fields: []string{"node"}},
		{name: "node on services", yaml: "role: service\nnode: n1\n", fields: []string{"node"}},
		{name: "deployment on nodes", yaml: "role: node\nattach_metadata: {deployment: true}\n", fields: []string{"attach_metadata"}},
		{name: "kubeconfig and api_server", yaml: "kubeconfig_file: /k\napi_server: https://x\n", fields: []string{"kubeconfig_file"}},
		{name: "http settings without api_server", yaml: "bearer_token_file: /t\n", fields: []string{"api_server"}},
		{name: "api_server scheme", yaml: "api_server: ftp://x\n", fields: []string{"api_server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := decode(t, tt.yaml)
			require.Equal(t, tt.fields, pipelinetest.FieldsOf(a.Validate()))
		})
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	args := Registration.Args().(*Arguments)
	dec := yaml.NewDecoder(bytes.NewBufferString("role: pod\nnodes: x\n"))
	dec.KnownFields(true)
	require.Error(t, dec.Decode(args))
}

func TestSelector(t *testing.T) {
	tests := []struct {
		name         string
		args         Arguments
		role         Role
		label, field string
	}{
		{name: "none", role: RolePod},
		{name: "user's", args: Arguments{Selectors: []Selector{{Role: RolePod, Label: "a=b", Field: "status.phase=Running"}}},
			role: RolePod, label: "a=b", field: "status.phase=Running"},
		{name: "node on pods", args: Arguments{Node: "n1"}, role: RolePod, field: "spec.nodeName=n1"},
		{name: "node and user's field", args: Arguments{Node: "n1", Selectors: []Selector{{Role: RolePod, Field: "status.phase=Running"}}},
			role: RolePod, field: "status.phase=Running,spec.nodeName=n1"},
		{name: "node on nodes", args: Arguments{Node: "n1"}, role: RoleNode, field: "metadata.name=n1"},
		{name: "node on services: none", args: Arguments{Node: "n1"}, role: RoleService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, f := tt.args.selector(tt.role)
			require.Equal(t, tt.label, l)
			require.Equal(t, tt.field, f)
		})
	}
}

func TestMarkAnnotatedPortTarget(t *testing.T) {
	port := func(container, number string) model.LabelSet {
		return model.LabelSet{"__meta_kubernetes_pod_container_name": model.LabelValue(container),
			containerPortLabel: model.LabelValue(number), containerInitLabel: "false"}
	}
	portless := func(container string) model.LabelSet {
		return model.LabelSet{"__meta_kubernetes_pod_container_name": model.LabelValue(container), containerInitLabel: "false"}
	}
	initc := model.LabelSet{"__meta_kubernetes_pod_container_name": "init", containerPortLabel: "9090", containerInitLabel: "true"}
	tests := []struct {
		name       string
		annotation string // "" : none
		targets    []model.LabelSet
		marked     int // index, -1: none
	}{
		{name: "declared port", annotation: "9090", targets: []model.LabelSet{port("app", "8080"), port("app", "9090"), portless("side")}, marked: 1},
		{name: "declared by a later container", annotation: "9090", targets: []model.LabelSet{port("app", "8080"), port("exporter", "9090")}, marked: 1},
		{name: "undeclared: first container", annotation: "7000", targets: []model.LabelSet{port("app", "8080"), port("app", "9090")}, marked: 0},
		{name: "port-less containers", annotation: "7000", targets: []model.LabelSet{portless("app"), portless("side")}, marked: 0},
		{name: "init containers never", annotation: "9090", targets: []model.LabelSet{portless("app"), initc}, marked: 0},
		{name: "no annotation", targets: []model.LabelSet{port("app", "8080")}, marked: -1},
		{name: "not a number", annotation: "metrics", targets: []model.LabelSet{port("app", "8080")}, marked: -1},
		{name: "out of range", annotation: "70000", targets: []model.LabelSet{port("app", "8080")}, marked: -1},
		{name: "leading zero", annotation: "09090", targets: []model.LabelSet{port("app", "8080"), port("app", "9090")}, marked: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &targetgroup.Group{Labels: model.LabelSet{}, Targets: tt.targets}
			if tt.annotation != "" {
				tg.Labels[PortAnnotationLabel] = model.LabelValue(tt.annotation)
			}
			MarkAnnotatedPortTarget(tg)
			for i, tgt := range tg.Targets {
				_, marked := tgt[AnnotatedPortTargetLabel]
				require.Equalf(t, i == tt.marked, marked, "target %d", i)
			}
		})
	}
	MarkAnnotatedPortTarget(nil) // no panic
}
