package kubernetes

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

func TestArgumentsValidate(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*Arguments)
		fields []string // fields named by the errors; none: valid
	}{
		{"defaults with forward_to", func(*Arguments) {}, nil},
		{"namespaces, selector and node", func(a *Arguments) {
			a.Namespaces, a.Selector, a.Node = []string{"shop", "web"}, "app in (cart, front)", "node-1"
		}, nil},
		{"kubeconfig", func(a *Arguments) { a.KubeconfigFile = "/home/me/.kube/config" }, nil},
		{"no forward_to", func(a *Arguments) { a.ForwardTo = nil }, []string{"forward_to"}},
		{"bad namespace", func(a *Arguments) { a.Namespaces = []string{"Shop_1"} }, []string{"namespaces[0]"}},
		{"duplicate namespace", func(a *Arguments) { a.Namespaces = []string{"shop", "shop"} }, []string{"namespaces[1]"}},
		{"bad selector", func(a *Arguments) { a.Selector = "app in (" }, []string{"selector"}},
		{"bad node", func(a *Arguments) { a.Node = "Node 1" }, []string{"node"}},
		{"kubeconfig and api_server", func(a *Arguments) {
			a.KubeconfigFile = "/k"
			a.APIServer.URL = &url.URL{Scheme: "https", Host: "k:6443"}
		}, []string{"kubeconfig_file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := DefaultArguments()
			a.ForwardTo = []string{"loki.write/default"}
			tc.modify(a)
			err := a.Validate()
			if tc.fields == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var fields []string
			for _, e := range unjoin(err) {
				var fe *pipeline.FieldError
				require.ErrorAs(t, e, &fe)
				fields = append(fields, fe.Field)
			}
			require.Equal(t, tc.fields, fields)
		})
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestReferencesAndInformerKeys(t *testing.T) {
	a := DefaultArguments()
	a.ForwardTo = []string{"loki.process/a"}
	require.Equal(t, []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindLogs, IDs: []string{"loki.process/a"}}}, a.References())
	require.Len(t, a.informerKeys(), 1)
	require.Equal(t, "pods", a.informerKeys()[0].String(), "all namespaces, no selector")

	a.Namespaces, a.Selector, a.Node = []string{"shop", "web"}, "app=cart", "node-1"
	var keys []string
	for _, k := range a.informerKeys() {
		keys = append(keys, k.String())
	}
	require.Equal(t, []string{
		"pods namespace=shop labels=app=cart fields=spec.nodeName=node-1",
		"pods namespace=web labels=app=cart fields=spec.nodeName=node-1",
	}, keys)
}
