package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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

// The cluster-local preset against a real kube-apiserver, from a kubeconfig: it discovers the
// node and an annotated pod and scrapes both through the API server's proxy
// (/api/v1/nodes/<node>/proxy/metrics/cadvisor, /api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/metrics).
// The API server refuses to proxy to loopback addresses, so the fake kubelet (TLS) and the
// pod listen on this machine's first non-loopback IPv4 address; the node is named after that
// address because the API server reaches a kubelet at its Hostname address first.
func TestE2EClusterLocalPreset(t *testing.T) {
	srv := kubetest.Start(t)
	ip := hostIPv4(t)

	srv.CreateNode(t, kubetest.Node{Name: ip, InternalIP: ip, KubeletPort: int32(serveOn(t, ip, true, kubeletPaths))})
	srv.CreateNamespace(t, "shop")
	podPort := serveOn(t, ip, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "e2e_pod_path{path=%q} 1\n", r.URL.Path)
	}))
	srv.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart", Annotations: map[string]string{
			"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(podPort), "prometheus.io/path": "/custom/metrics",
		}},
		Spec: corev1.PodSpec{NodeName: ip, Containers: []corev1.Container{{Name: "app"}}},
	}, &kubetest.PodStatus{PodIP: ip, HostIP: ip, Ready: true})

	useKubeconfig(t, srv)

	s := newSonde(t, "--preset", "cluster-local")
	want := []string{
		// Through the node proxy, with the kubelet rule sets' labels.
		`e2e_kubelet_path{instance="` + ip + `",job="kubelet",metrics_path="/metrics/cadvisor",node="` + ip + `",path="/metrics/cadvisor"}`,
		`e2e_kubelet_path{instance="` + ip + `",job="kubelet",metrics_path="/metrics/resource",node="` + ip + `",path="/metrics/resource"}`,
		// Through the pod proxy, on the annotated port and path.
		`e2e_pod_path{container="app",instance="` + net.JoinHostPort(ip, fmt.Sprint(podPort)) + `",job="app",namespace="shop",node="` + ip + `",path="/custom/metrics",pod="cart"}`,
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
}

// useKubeconfig points KUBECONFIG, for the sonde processes this test starts, at the API
// server with the admin token.
func useKubeconfig(t *testing.T, srv *kubetest.Server) {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, srv.URL, srv.CAFile, kubetest.AdminToken)), 0o600))
	t.Setenv("KUBECONFIG", kubeconfig)
}

// hostIPv4 is this machine's first non-loopback, non-link-local IPv4 address.
func hostIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	require.FailNow(t, "no non-loopback IPv4 address: the API server proxies to none other")
	return ""
}

func listenOn(t *testing.T, ip string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	return ln
}

// serveOn serves h on ip (over TLS when tls, as a kubelet does) until the test ends, and
// returns the port.
func serveOn(t *testing.T, ip string, tls bool, h http.Handler) int {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Listener = listenOn(t, ip)
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// kubeletPaths stands in for a kubelet: one series naming the path it was scraped at.
var kubeletPaths = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "e2e_kubelet_path{path=%q} 1\n", r.URL.Path)
})
