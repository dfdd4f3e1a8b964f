package monitor_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sondehq/sonde/components/prometheus/operator/podmonitors"
	"github.com/sondehq/sonde/components/prometheus/operator/probes"
	operatorscrape "github.com/sondehq/sonde/components/prometheus/operator/scrape"
	kubediscovery "github.com/sondehq/sonde/discovery/kubernetes"
	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// serveAuth serves body on path to requests whose Authorization header is want; others
// get 401.
func serveAuth(t *testing.T, path, want, body string) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != want {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, body)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// TestOperatorScrape has prometheus.operator.scrape scrape a PodMonitor's target with
// basic auth from a Secret and metricRelabelings, and a Probe's prober with a bearer token
// from a Secret, on a real kube-apiserver; a PodMonitor whose Secret is missing is not
// scraped and is reported.
func TestOperatorScrape(t *testing.T) {
	s := kubetest.Shared(t)
	dc := installCRDs(t, s)
	ns := kubetest.Unique("opscrape")
	s.CreateNamespace(t, ns)
	cs, err := kubernetes.NewForConfig(s.RestConfig(kubetest.AdminToken))
	require.NoError(t, err)
	_, err = cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		StringData: map[string]string{"user": "scraper", "pass": "s3cret", "token": "tok-123"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// "scraper:s3cret" in base64.
	port := serveAuth(t, "/metrics", "Basic c2NyYXBlcjpzM2NyZXQ=",
		"# TYPE demo_keep gauge\ndemo_keep{namespace=\"exported\"} 1\n# TYPE demo_drop gauge\ndemo_drop 1\n# TYPE demo_old gauge\ndemo_old 1\n")
	prober := serveAuth(t, "/probe", "Bearer tok-123", "# TYPE probe_success gauge\nprobe_success 1\n")
	s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "auth-0", Namespace: ns, Labels: map[string]string{"app": "auth"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "app", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: port}},
		}}},
	}, &kubetest.PodStatus{PodIP: "127.0.0.1", HostIP: "127.0.0.1", Ready: true})

	create(t, dc, "podmonitors", ns, `
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: auth}
spec:
  selector: {matchLabels: {app: auth}}
  podMetricsEndpoints:
  - port: metrics
    interval: 1s
    honorLabels: true
    basicAuth:
      username: {name: creds, key: user}
      password: {name: creds, key: pass}
    metricRelabelings:
    - {action: drop, sourceLabels: [__name__], regex: demo_drop}
    - {sourceLabels: [__name__], regex: demo_old, targetLabel: __name__, replacement: demo_new}
`)
	create(t, dc, "podmonitors", ns, `
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: missing-secret}
spec:
  selector: {matchLabels: {app: auth}}
  podMetricsEndpoints:
  - port: metrics
    bearerTokenSecret: {name: nosuchsecret, key: token}
`)
	create(t, dc, "probes", ns, `
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: guarded}
spec:
  prober: {url: "127.0.0.1:`+strconv.Itoa(int(prober))+`"}
  module: http_2xx
  interval: 1s
  bearerTokenSecret: {name: creds, key: token}
  targets: {staticConfig: {static: [https://example.com]}}
`)

	host, sc := startOperatorScrape(t, s, ns)

	seen := func(name, job string) bool {
		for _, smp := range host.Sink.Samples() {
			if smp.Labels.Get("__name__") == name && smp.Labels.Get("job") == job {
				return true
			}
		}
		return false
	}
	require.Eventually(t, func() bool {
		return seen("demo_keep", ns+"/auth") && seen("probe_success", "probe/"+ns+"/guarded")
	}, 30*time.Second, 50*time.Millisecond, "the PodMonitor's target (basic auth) and the Probe's prober (bearer) were scraped")
	require.True(t, seen("demo_new", ns+"/auth"), "demo_old renamed by metricRelabelings")
	for _, smp := range host.Sink.Samples() {
		if smp.Labels.Get("__name__") == "demo_keep" {
			require.Equal(t, "exported", smp.Labels.Get("namespace"), "honorLabels keeps the scraped namespace")
		}
	}
	require.False(t, seen("demo_drop", ns+"/auth"), "demo_drop dropped by metricRelabelings")
	require.False(t, seen("demo_old", ns+"/auth"), "demo_old renamed by metricRelabelings")
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, sc.reg, "sonde_prometheus_operator_scrape_jobs", "state", "failed"), "the PodMonitor whose Secret is missing")
	require.Equal(t, 2.0, pipelinetest.MetricValue(t, sc.reg, "sonde_prometheus_operator_scrape_jobs", "state", "active"))
	require.Contains(t, sc.logs.String(), "secret "+ns+"/nosuchsecret not found")
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, sc.reg, "sonde_prometheus_operator_scrape_secret_reads_total", "result", "ok"), "creds read once for both jobs")
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, sc.reg, "sonde_prometheus_operator_scrape_secret_reads_total", "result", "not_found"))
}

// clientCert makes a self-signed client certificate: its PEM certificate and key.
func clientCert(t *testing.T) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sonde"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	cert, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), cert
}

// TestOperatorScrapeTLS scrapes a PodMonitor's HTTPS target that requires a client
// certificate: the CA comes from a ConfigMap, the client certificate and key from a Secret.
func TestOperatorScrapeTLS(t *testing.T) {
	s := kubetest.Shared(t)
	dc := installCRDs(t, s)
	ns := kubetest.Unique("opscrape-tls")
	s.CreateNamespace(t, ns)

	certPEM, keyPEM, cert := clientCert(t)
	clients := x509.NewCertPool()
	clients.AddCert(cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE tls_up gauge\ntls_up 1\n")
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	cs, err := kubernetes.NewForConfig(s.RestConfig(kubetest.AdminToken))
	require.NoError(t, err)
	_, err = cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "ca"}, Data: map[string]string{"ca.crt": string(caPEM)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "client"}, Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tls-0", Namespace: ns, Labels: map[string]string{"app": "tls"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "app", Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: int32(port)}},
		}}},
	}, &kubetest.PodStatus{PodIP: "127.0.0.1", HostIP: "127.0.0.1", Ready: true})
	create(t, dc, "podmonitors", ns, `
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: tls}
spec:
  selector: {matchLabels: {app: tls}}
  podMetricsEndpoints:
  - port: https
    scheme: https
    interval: 1s
    tlsConfig:
      ca: {configMap: {name: ca, key: ca.crt}}
      cert: {secret: {name: client, key: tls.crt}}
      keySecret: {name: client, key: tls.key}
      minVersion: TLS12
`)

	host, _ := startOperatorScrape(t, s, ns)
	require.Eventually(t, func() bool {
		for _, smp := range host.Sink.Samples() {
			if smp.Labels.Get("__name__") == "tls_up" && smp.Labels.Get("job") == ns+"/tls" && smp.Labels.Get("pod") == "tls-0" {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "the HTTPS target was scraped with the CA and client certificate")
}

// startOperatorScrape runs this node's pod discovery, the podmonitors and probes
// components of namespace ns, and prometheus.operator.scrape over both (1s default interval).
func startOperatorScrape(t *testing.T, s *kubetest.Server, ns string) (*pipelinetest.Host, *running) {
	t.Helper()
	host := pipelinetest.NewHost()
	cache := pipelinetest.Options(t, "cache", nil).Kube
	client := clientArgs(s)
	pods := kubediscovery.DefaultArguments()
	pods.Role, pods.Node, pods.Namespaces.Names, pods.ClientArgs = kubediscovery.RolePod, node, []string{ns}, client
	start(t, host, cache, "discovery.kubernetes/pods", kubediscovery.Registration, pods)
	pmArgs := podmonitors.DefaultArguments()
	pmArgs.Targets, pmArgs.Namespaces, pmArgs.ClientArgs = []string{"discovery.kubernetes/pods"}, []string{ns}, client
	start(t, host, cache, "prometheus.operator.podmonitors/default", podmonitors.Registration, pmArgs)
	prArgs := probes.DefaultArguments()
	prArgs.Namespaces, prArgs.ClientArgs = []string{ns}, client
	start(t, host, cache, "prometheus.operator.probes/default", probes.Registration, prArgs)
	scArgs := operatorscrape.DefaultArguments()
	scArgs.Targets = []string{"prometheus.operator.podmonitors/default", "prometheus.operator.probes/default"}
	scArgs.ForwardTo, scArgs.ClientArgs = []string{"prometheus.remote_write/x"}, client
	scArgs.ScrapeInterval = model.Duration(time.Second)
	return host, start(t, host, cache, "prometheus.operator.scrape/default", operatorscrape.Registration, scArgs)
}
