package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/exporters/backendtest"
)

// TestE2EHonorLabelsAndJobNames: the cluster-local preset (as `sonde config show` prints it,
// scraping every second) against a real kube-apiserver, as in TestE2EClusterLocalPreset, keeps the labels of the series that describe other objects.
// kube-state-metrics, found by its pod annotations, is scraped with honor_labels and
// job="kube-state-metrics": kube_pod_info keeps the namespace of the pod it describes (not
// exported_namespace="shop" beside kube-state-metrics' own namespace), kube_node_info gets no
// namespace. A pod annotated prometheus.io/honor-labels: "true" keeps its series' job and
// namespace; one without gets them renamed exported_*. With SONDE_JOB_NAMES=alloy the
// kubelet and kube-state-metrics jobs are Grafana k8s-monitoring's; a value sonde does not
// know is refused.
func TestE2EHonorLabelsAndJobNames(t *testing.T) {
	srv := kubetest.Start(t)
	ip := hostIPv4(t)

	exposition := func(text string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, text) })
	}
	ksmPort := serveOn(t, ip, false, exposition("kube_pod_info{namespace=\"shop\",pod=\"cart\",node=\""+ip+"\"} 1\nkube_node_info{node=\""+ip+"\"} 1\n"))
	appPort := serveOn(t, ip, false, exposition("app_build_info{job=\"cart-build\",namespace=\"ci\"} 1\n"))

	srv.CreateNode(t, kubetest.Node{Name: ip, InternalIP: ip, KubeletPort: int32(serveOn(t, ip, true, kubeletPaths))})
	pod := func(ns, name string, labels map[string]string, port int, honor bool) {
		ann := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(port)}
		if honor {
			ann["prometheus.io/honor-labels"] = "true"
		}
		srv.CreatePod(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: ann},
			Spec:       corev1.PodSpec{NodeName: ip, Containers: []corev1.Container{{Name: "app"}}},
		}, &kubetest.PodStatus{PodIP: ip, HostIP: ip, Ready: true})
	}
	srv.CreateNamespace(t, "observability")
	srv.CreateNamespace(t, "shop")
	pod("observability", "kube-state-metrics-6c9d", map[string]string{"app.kubernetes.io/name": "kube-state-metrics"}, ksmPort, false)
	pod("shop", "cart", nil, appPort, true)
	pod("shop", "web", map[string]string{"app.kubernetes.io/name": "web"}, appPort, false)
	useKubeconfig(t, srv)
	// The preset as `sonde config show` prints it, scraping every second rather than every 15.
	var shown, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"config", "show", "--preset", "cluster-local"}, &shown, &errOut), errOut.String())
	require.Contains(t, shown.String(), "scrape_interval: 15s")
	config := filepath.Join(t.TempDir(), "cluster-local.yaml")
	require.NoError(t, os.WriteFile(config, []byte(strings.ReplaceAll(shown.String(), "scrape_interval: 15s", "scrape_interval: 1s")), 0o600))

	ksmInstance := `instance="` + net.JoinHostPort(ip, fmt.Sprint(ksmPort)) + `"`
	appInstance := `instance="` + net.JoinHostPort(ip, fmt.Sprint(appPort)) + `"`
	node := `node="` + ip + `"`
	for _, tc := range []struct {
		convention                        string
		cadvisor, kubelet, resource, kube string
	}{
		{"", "kubelet", "kubelet", "kubelet", "kube-state-metrics"},
		{"alloy", "integrations/kubernetes/cadvisor", "integrations/kubernetes/kubelet", "integrations/kubernetes/resources", "integrations/kubernetes/kube-state-metrics"},
	} {
		t.Run("SONDE_JOB_NAMES="+tc.convention, func(t *testing.T) {
			t.Setenv("SONDE_JOB_NAMES", tc.convention)
			s := newSonde(t, "--config", config)
			want := []string{
				`kube_pod_info{` + ksmInstance + `,job="` + tc.kube + `",namespace="shop",` + node + `,pod="cart"} 1`,
				`kube_node_info{` + ksmInstance + `,job="` + tc.kube + `",` + node + `} 1`,
				// Honoured: the series' job and namespace; pod, container and node from the target.
				`app_build_info{container="app",` + appInstance + `,job="cart-build",namespace="ci",` + node + `,pod="cart"} 1`,
				// Not honoured: the target's, the series' renamed.
				`app_build_info{container="app",exported_job="cart-build",exported_namespace="ci",` + appInstance + `,job="web",namespace="shop",` + node + `,pod="web"} 1`,
				`e2e_kubelet_path{instance="` + ip + `",job="` + tc.cadvisor + `",metrics_path="/metrics/cadvisor",` + node + `,path="/metrics/cadvisor"} 1`,
				`e2e_kubelet_path{instance="` + ip + `",job="` + tc.kubelet + `",metrics_path="/metrics",` + node + `,path="/metrics"} 1`,
				`e2e_kubelet_path{instance="` + ip + `",job="` + tc.resource + `",metrics_path="/metrics/resource",` + node + `,path="/metrics/resource"} 1`,
			}
			var body string
			require.Eventually(t, func() bool {
				_, body = backendtest.Fetch(t, http.MethodGet, s.URL()+"/api/v1/components/prometheus.serve/local/metrics")
				for _, w := range want {
					if !strings.Contains(body, w) {
						return false
					}
				}
				return true
			}, 60*time.Second, 200*time.Millisecond, "want %q in\n%s", want, body)
			// Each target scraped once: one series per name and target.
			require.Equal(t, 1, strings.Count(body, "kube_pod_info{"), body)
			require.Equal(t, 2, strings.Count(body, "app_build_info{"), body)
			require.NotContains(t, body, `exported_namespace="shop"`)
		})
	}

	t.Setenv("SONDE_JOB_NAMES", "Alloy")
	var out bytes.Buffer
	errOut.Reset()
	require.Equal(t, 1, run([]string{"validate", "--config", config}, &out, &errOut), "stdout: %s", out.String())
	require.Contains(t, errOut.String(), `SONDE_JOB_NAMES: want prometheus or alloy, got "Alloy"`)
}
