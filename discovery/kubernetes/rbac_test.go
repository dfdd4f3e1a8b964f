package kubernetes

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// rbacFile is the RBAC the DaemonSet is deployed with.
const rbacFile = "../../deploy/rbac/rbac.yaml"

// TestRBAC runs sonde's discovery with a token of the ServiceAccount from deploy/rbac (the
// API server authorizes with RBAC) and checks that it can do its job and nothing more.
func TestRBAC(t *testing.T) {
	c := newCluster(t)
	c.s.ApplyFile(t, rbacFile)
	token := c.s.Token(t, "sonde", "sonde")
	user := kubetest.ServiceAccountUser("sonde", "sonde")
	cache := kube.NewCache(quietLogger())

	t.Run("can discover", func(t *testing.T) {
		tests := []struct {
			role Role
			node string
			want func(pipeline.Targets) bool
		}{
			{role: RolePod, node: c.n1, want: hasAddresses(c.webIP+":8080", c.webIP+":9090", c.webIP, c.webIP)},
			{role: RoleNode, node: c.n1, want: hasAddresses("127.0.0.1:10250")},
			{role: RoleService, want: hasAddresses("web." + c.ns + ".svc:80")},
			{role: RoleEndpoints, node: c.n1, want: func(ts pipeline.Targets) bool { return byAddress(ts, c.webIP+":8080") != nil }},
			{role: RoleEndpointSlice, want: func(ts pipeline.Targets) bool { return byAddress(ts, c.webIP+":8080") != nil }},
		}
		for _, tt := range tests {
			t.Run(string(tt.role), func(t *testing.T) {
				args := DefaultArguments()
				args.Role, args.Node, args.ClientArgs = tt.role, tt.node, clientArgs(c.s, token)
				if tt.role != RoleNode {
					args.Namespaces.Names = []string{c.ns}
				}
				r := start(t, cache, args)
				r.waitFor(t, string(tt.role), tt.want)
			})
		}
		// sonde's own pods, for discovery.shard: list and watch in its namespace.
		_, err := c.s.Client(t, token).CoreV1().Pods("sonde").List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=sonde"})
		require.NoError(t, err)
	})

	t.Run("kubelet allows", func(t *testing.T) {
		// The kubelet authorizes its callers with SubjectAccessReviews like these.
		for _, sub := range []string{"metrics", "pods"} {
			require.Truef(t, allowed(t, c.s, user, authzv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: sub, Name: c.n1}),
				"get nodes/%s", sub)
		}
	})

	t.Run("is refused", func(t *testing.T) {
		refused := []authzv1.ResourceAttributes{
			{Verb: "get", Resource: "secrets", Namespace: c.ns},
			{Verb: "list", Resource: "secrets"},
			{Verb: "list", Resource: "configmaps"},
			{Verb: "create", Resource: "pods", Namespace: c.ns},
			{Verb: "delete", Resource: "pods", Namespace: c.ns},
			{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: c.ns},
			{Verb: "get", Resource: "pods", Subresource: "log", Namespace: c.ns},
			{Verb: "patch", Resource: "nodes"},
			{Verb: "get", Resource: "nodes", Subresource: "proxy", Name: c.n1},
			{Verb: "list", Resource: "namespaces"},
			{Verb: "list", Group: "apps", Resource: "deployments"},
			{Verb: "update", Resource: "services", Namespace: c.ns},
		}
		for _, ra := range refused {
			require.Falsef(t, allowed(t, c.s, user, ra), "%s %s/%s", ra.Verb, ra.Resource, ra.Subresource)
		}
		// And for real, with the token.
		cs := c.s.Client(t, token)
		_, err := cs.CoreV1().Secrets(c.ns).List(context.Background(), metav1.ListOptions{})
		require.True(t, apierrors.IsForbidden(err), "list secrets: %v", err)
		_, err = cs.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "extension-apiserver-authentication", metav1.GetOptions{})
		require.True(t, apierrors.IsForbidden(err), "get configmap: %v", err)
		_, err = cs.CoreV1().Pods(c.ns).Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "evil"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})
		require.True(t, apierrors.IsForbidden(err), "create pod: %v", err)
	})

	t.Run("never touched secrets while discovering", func(t *testing.T) {
		for _, e := range c.s.AuditEvents(t, user) {
			if e.Resource() == "secrets" || e.Resource() == "configmaps" {
				// Only the refusals the test itself provoked above.
				require.Equal(t, 403, e.ResponseStatus.Code, "%s %s", e.Verb, e.RequestURI)
			}
		}
	})
}

// allowed asks the API server (as a kubelet does) whether user may do ra.
func allowed(t *testing.T, s *kubetest.Server, user string, ra authzv1.ResourceAttributes) bool {
	t.Helper()
	sar, err := s.Admin.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authzv1.SubjectAccessReview{
		Spec: authzv1.SubjectAccessReviewSpec{
			User:               user,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:sonde", "system:authenticated"},
			ResourceAttributes: &ra,
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return sar.Status.Allowed
}
