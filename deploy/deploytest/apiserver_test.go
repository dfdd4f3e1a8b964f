package deploytest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/sondehq/sonde/discovery/kubetest"
)

// cluster applies objects to the shared test API server with server-side apply.
type cluster struct {
	s      *kubetest.Server
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	s := kubetest.Shared(t)
	cfg := s.RestConfig(kubetest.AdminToken)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	c := &cluster{s: s, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
	c.installServiceMonitorCRD(t)
	return c
}

// apply applies o with server-side apply and strict field validation: unknown or duplicate
// fields are errors, as they would be for `kubectl apply --server-side`.
func (c *cluster) apply(t *testing.T, o *unstructured.Unstructured, dryRun bool) error {
	t.Helper()
	mapping, err := c.mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
	if err != nil {
		return err
	}
	var r dynamic.ResourceInterface = c.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		r = c.dyn.Resource(mapping.Resource).Namespace(o.GetNamespace())
	}
	data, err := json.Marshal(o.Object)
	require.NoError(t, err)
	opts := metav1.PatchOptions{FieldManager: "sonde-deploytest", Force: new(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = r.Patch(ctx, o.GetName(), types.ApplyPatchType, data, opts)
	return err
}

// applyAll applies objs with a server-side dry run, then for real.
func (c *cluster) applyAll(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, dryRun := range []bool{true, false} {
		for _, o := range objs {
			require.NoError(t, c.apply(t, o, dryRun), "apply %s %s/%s (dry run: %v)", o.GetKind(), o.GetNamespace(), o.GetName(), dryRun)
		}
	}
}

// installServiceMonitorCRD stands in for the Prometheus operator, whose CRD the chart's
// optional ServiceMonitor needs.
func (c *cluster) installServiceMonitorCRD(t *testing.T) {
	t.Helper()
	crd := decodeObjects(t, mustRead(t, filepath.Join("testdata", "servicemonitor-crd.yaml")))
	require.Len(t, crd, 1)
	require.NoError(t, c.apply(t, crd[0], false))
	gk := schema.GroupKind{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}
	require.Eventually(t, func() bool {
		c.mapper.Reset()
		_, err := c.mapper.RESTMapping(gk, "v1")
		return err == nil
	}, time.Minute, 200*time.Millisecond, "the ServiceMonitor CRD is not served")
}

// TestAPIServerAcceptsChart applies every value combination of the chart to a real
// kube-apiserver (server-side dry run, then for real, with strict field validation) and
// checks the DaemonSet or Deployment, the Service and the RBAC as the API server stored
// them; with a token of the chart's ServiceAccount, RBAC allows what sonde needs and
// refuses the rest.
func TestAPIServerAcceptsChart(t *testing.T) {
	c := newCluster(t)
	for _, cc := range chartCases {
		t.Run(cc.name, func(t *testing.T) {
			rel := cc.release(kubetest.Unique("deploytest"))
			rel.Name = kubetest.Unique("sonde")
			r := render(t, rel)
			c.createNamespaces(t, r.Objects)
			c.applyAll(t, r.Objects)

			admin := c.s.Admin
			ctx := context.Background()
			w := r.workload(t)
			svc, err := admin.CoreV1().Services(rel.Namespace).Get(ctx, w.GetName(), metav1.GetOptions{})
			require.NoError(t, err)
			if w.GetKind() == "DaemonSet" {
				ds, err := admin.AppsV1().DaemonSets(rel.Namespace).Get(ctx, w.GetName(), metav1.GetOptions{})
				require.NoError(t, err)
				pod := nested(t, w.Object, "spec", "template").(map[string]any)
				propagation := volumeMounts(container(t, pod, "sonde"))["root"]["mountPropagation"].(string)
				checkStoredDaemonSet(t, ds, corev1.MountPropagationMode(propagation))
				require.NotNil(t, svc.Spec.InternalTrafficPolicy)
				require.Equal(t, corev1.ServiceInternalTrafficPolicyLocal, *svc.Spec.InternalTrafficPolicy)
				c.checkRBAC(t, rel.Namespace, ds.Spec.Template.Spec.ServiceAccountName)
			} else {
				d, err := admin.AppsV1().Deployments(rel.Namespace).Get(ctx, w.GetName(), metav1.GetOptions{})
				require.NoError(t, err)
				require.False(t, *d.Spec.Template.Spec.AutomountServiceAccountToken)
				require.Equal(t, corev1.ServiceInternalTrafficPolicyCluster, *svc.Spec.InternalTrafficPolicy)
			}
			for _, o := range r.all("ServiceMonitor", "") {
				got, err := c.dyn.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}).
					Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
				require.NoError(t, err)
				require.Equal(t, o.Object["spec"], got.Object["spec"])
			}
		})
	}
}

// TestAPIServerAcceptsManifests applies deploy/manifests as `kubectl apply -k` would (the
// kustomization only adds the namespace, which the files already carry).
func TestAPIServerAcceptsManifests(t *testing.T) {
	c := newCluster(t)
	dir := filepath.Join(repoRoot(t), "deploy", "manifests")
	var objs []*unstructured.Unstructured
	for _, f := range []string{"namespace.yaml", "sonde.yaml"} {
		objs = append(objs, decodeObjects(t, mustRead(t, filepath.Join(dir, f)))...)
	}
	require.Equal(t, "Namespace", objs[0].GetKind())
	// A namespaced object's dry run needs its namespace to exist.
	require.NoError(t, c.apply(t, objs[0], true))
	require.NoError(t, c.apply(t, objs[0], false))
	c.applyAll(t, objs)
	ds, err := c.s.Admin.AppsV1().DaemonSets("sonde").Get(context.Background(), "sonde", metav1.GetOptions{})
	require.NoError(t, err)
	checkStoredDaemonSet(t, ds, corev1.MountPropagationNone) // the chart's default
	c.checkRBAC(t, "sonde", "sonde")
}

// checkStoredDaemonSet checks what matters of the DaemonSet as the API server stored it;
// propagation is the host root mount's as rendered.
func checkStoredDaemonSet(t *testing.T, ds *appsv1.DaemonSet, propagation corev1.MountPropagationMode) {
	t.Helper()
	spec := ds.Spec.Template.Spec
	require.Len(t, spec.Containers, 1)
	ctr := spec.Containers[0]
	sc := ctr.SecurityContext
	require.NotNil(t, sc)
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.True(t, *sc.ReadOnlyRootFilesystem)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.Empty(t, sc.Capabilities.Add)
	require.False(t, sc.Privileged != nil && *sc.Privileged)
	for _, m := range ctr.VolumeMounts {
		if m.Name == "root" {
			require.NotNil(t, m.MountPropagation)
			require.Equal(t, propagation, *m.MountPropagation)
		}
	}
	var env []string
	for _, e := range ctr.Env {
		env = append(env, e.Name)
	}
	require.Contains(t, env, "NODE_NAME")
	require.Equal(t, "/-/ready", ctr.ReadinessProbe.HTTPGet.Path)
}

// checkRBAC checks, with a real token of the ServiceAccount, that the API server allows what
// the daemonset preset needs and refuses the rest.
func (c *cluster) checkRBAC(t *testing.T, namespace, serviceAccount string) {
	t.Helper()
	ctx := context.Background()
	client := c.s.Client(t, c.s.Token(t, namespace, serviceAccount))
	_, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-1"})
	require.NoError(t, err, "list pods of a node")
	_, err = client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err, "list nodes")
	_, err = client.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	require.NoError(t, err, "list endpointslices")
	_, err = client.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "list secrets: %v", err)
	_, err = client.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "list configmaps: %v", err)
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kubetest.Unique("forbidden")}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "create a namespace: %v", err)

	user := kubetest.ServiceAccountUser(namespace, serviceAccount)
	for _, tc := range []struct {
		attrs authzv1.ResourceAttributes
		want  bool
	}{
		{authzv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "metrics", Name: "node-1"}, true},
		{authzv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "pods", Name: "node-1"}, true},
		{authzv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "proxy", Name: "node-1"}, false},
		{authzv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: "default"}, false},
		{authzv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "kube-system"}, false},
	} {
		sar, err := c.s.Admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
			Spec: authzv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &tc.attrs},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.Equal(t, tc.want, sar.Status.Allowed, "%s %s/%s", tc.attrs.Verb, tc.attrs.Resource, tc.attrs.Subresource)
	}
}

// createNamespaces creates the namespaces the objects live in (helm install --create-namespace).
func (c *cluster) createNamespaces(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !seen[ns] {
			seen[ns] = true
			c.s.CreateNamespace(t, ns)
		}
	}
}
