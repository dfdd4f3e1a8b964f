package deploytest

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestChartRBACMatchesDeployRBAC: the chart's ClusterRole grants exactly the rules of
// deploy/rbac/rbac.yaml, the reviewed least-privilege set the discovery tests run against.
func TestChartRBACMatchesDeployRBAC(t *testing.T) {
	file := decodeObjects(t, mustRead(t, filepath.Join(repoRoot(t), "deploy", "rbac", "rbac.yaml")))
	var want []rbacv1.PolicyRule
	for _, o := range file {
		if o.GetKind() == "ClusterRole" {
			want = policyRules(t, o)
		}
	}
	require.NotEmpty(t, want, "deploy/rbac/rbac.yaml has no ClusterRole")

	r := render(t, release{Name: "sonde", Namespace: "sonde"})
	require.Equal(t, want, policyRules(t, r.get(t, "ClusterRole", "sonde")))
	for _, c := range []string{"ClusterRole", "ClusterRoleBinding", "ServiceAccount"} {
		require.Len(t, r.all(c, "sonde"), 1, c)
	}
}

func policyRules(t testing.TB, o *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	js, err := json.Marshal(o.Object["rules"])
	require.NoError(t, err)
	var rules []rbacv1.PolicyRule
	require.NoError(t, json.Unmarshal(js, &rules))
	return rules
}
