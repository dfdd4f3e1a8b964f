package kubernetes

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/components/prometheus/scrape"
	"github.com/sondehq/sonde/discovery/kubernetes/rules"
	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/discovery/relabel"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// fakeKubelet serves the recorded kubelet responses of testdata/kubelet over TLS to
// callers with the right bearer token, as a kubelet does with a service-account token.
type fakeKubelet struct {
	srv       *httptest.Server
	token     string
	tokenFile string
	caFile    string
	mu        sync.Mutex
	hits      map[string]int
}

func newFakeKubelet(t *testing.T, node string) *fakeKubelet {
	t.Helper()
	k := &fakeKubelet{token: "sonde-sa-token", hits: map[string]int{}}
	files := map[string]string{
		"/metrics/cadvisor": "metrics_cadvisor.txt",
		"/metrics/resource": "metrics_resource.txt",
		"/metrics":          "metrics.txt",
	}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+k.token {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		name, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(filepath.Join("testdata", "kubelet", name))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		k.mu.Lock()
		k.hits[r.URL.Path]++
		k.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(strings.ReplaceAll(string(body), "NODE", node)))
	}))
	t.Cleanup(k.srv.Close)
	dir := t.TempDir()
	k.tokenFile = filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(k.tokenFile, []byte(k.token), 0o600))
	k.caFile = filepath.Join(dir, "ca.crt")
	require.NoError(t, os.WriteFile(k.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.srv.Certificate().Raw}), 0o600))
	return k
}

func (k *fakeKubelet) port(t *testing.T) int32 {
	_, p, err := net.SplitHostPort(k.srv.Listener.Addr().String())
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return int32(n)
}

// podServer stands in for a pod's container port: an HTTP server on a 127.0.0.x address
// (the pod's "IP") that counts requests by path.
type podServer struct {
	ip   string
	port int32
	mu   sync.Mutex
	hits map[string]int
}

func newPodServer(t *testing.T, ip string) *podServer {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	require.NoError(t, err)
	ps := &podServer{ip: ip, port: int32(l.Addr().(*net.TCPAddr).Port), hits: map[string]int{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		ps.hits[r.URL.Path]++
		ps.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE app_requests_total counter\napp_requests_total{code=\"200\"} 42\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ps
}

func (ps *podServer) total() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := 0
	for _, v := range ps.hits {
		n += v
	}
	return n
}

func (ps *podServer) hitsOf(path string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.hits[path]
}

// pipelineOf starts discovery.kubernetes → discovery.relabel (a rule set) → prometheus.scrape
// on host, with ids prefixed by name.
func pipelineOf(t *testing.T, host *pipelinetest.Host, cache *kube.Cache, name string, disc *Arguments, ruleSet string, scr *scrape.Arguments) {
	t.Helper()
	discID, relabelID := "discovery.kubernetes/"+name, "discovery.relabel/"+name
	d := build(t, host, cache, discID, Registration, disc)
	rs, err := rules.Load(ruleSet)
	require.NoError(t, err)
	r := build(t, host, cache, relabelID, relabel.Registration, &relabel.Arguments{Targets: []string{discID}, Rules: rs})
	scr.Targets = []string{relabelID}
	scr.ForwardTo = []string{"sink"}
	scr.ScrapeInterval = model.Duration(500 * time.Millisecond)
	s := build(t, host, cache, "prometheus.scrape/"+name, scrape.Registration, scr)
	for _, c := range []pipeline.Component{s, r, d} { // sinks first
		runInBackground(t, c)
	}
}

// scrapeArguments returns prometheus.scrape's defaults.
func scrapeArguments() *scrape.Arguments { return scrape.Registration.Args().(*scrape.Arguments) }

// series returns the distinct label sets of metric in the sink that match every label of
// match.
func series(host *pipelinetest.Host, metric string, match map[string]string) []labels.Labels {
	seen := map[string]labels.Labels{}
	for _, s := range host.Sink.Samples() {
		if s.Labels.Get("__name__") != metric {
			continue
		}
		ok := true
		for k, v := range match {
			if s.Labels.Get(k) != v {
				ok = false
				break
			}
		}
		if ok {
			seen[s.Labels.String()] = s.Labels
		}
	}
	out := make([]labels.Labels, 0, len(seen))
	for _, l := range seen {
		out = append(out, l)
	}
	return out
}

func TestScrapeKubeletAndAnnotatedPods(t *testing.T) {
	s := kubetest.Shared(t)
	ns := kubetest.Unique("scrape")
	node, other := ns+"-node", ns+"-other"
	s.CreateNamespace(t, ns)
	kubelet := newFakeKubelet(t, node)
	s.CreateNode(t, kubetest.Node{Name: node, InternalIP: "127.0.0.1", KubeletPort: kubelet.port(t)})
	s.CreateNode(t, kubetest.Node{Name: other, InternalIP: "127.0.0.1", KubeletPort: 1})

	// Pod "a": two container ports, annotated with the second one and a path: scraped once,
	// on 9090's stand-in, at /custom; "http" never.
	aHTTP, aMetrics := newPodServer(t, "127.0.0.2"), newPodServer(t, "127.0.0.2")
	// Pod "b": one declared port, no port annotation: scraped on it.
	b := newPodServer(t, "127.0.0.3")
	// Pod "c": annotated port that no container declares, two containers: scraped once,
	// container "main".
	c := newPodServer(t, "127.0.0.4")
	// Pod "d": not annotated. Pod "e": annotated, on the other node.
	d, e := newPodServer(t, "127.0.0.5"), newPodServer(t, "127.0.0.6")

	mk := func(name, ip, nodeName string, ann map[string]string, lbls map[string]string, containers ...corev1.Container) {
		s.CreatePod(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: ann, Labels: lbls},
			Spec:       corev1.PodSpec{NodeName: nodeName, Containers: containers},
		}, &kubetest.PodStatus{PodIP: ip, HostIP: "127.0.0.1", Ready: true})
	}
	port := func(name string, p int32) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: p, Protocol: corev1.ProtocolTCP}
	}
	scrapeMe := func(kv ...string) map[string]string {
		m := map[string]string{"prometheus.io/scrape": "true"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	mk("a", aHTTP.ip, node, scrapeMe("prometheus.io/port", fmt.Sprint(aMetrics.port), "prometheus.io/path", "/custom"),
		map[string]string{"app.kubernetes.io/name": "shop-a"},
		corev1.Container{Name: "app", Ports: []corev1.ContainerPort{port("http", aHTTP.port), port("metrics", aMetrics.port)}})
	mk("b", b.ip, node, scrapeMe(), map[string]string{"app": "shop-b"},
		corev1.Container{Name: "server", Ports: []corev1.ContainerPort{port("metrics", b.port)}})
	mk("c", c.ip, node, scrapeMe("prometheus.io/port", fmt.Sprint(c.port)), nil,
		corev1.Container{Name: "main"}, corev1.Container{Name: "proxy", Ports: []corev1.ContainerPort{port("admin", 15000)}})
	mk("d", d.ip, node, nil, nil, corev1.Container{Name: "x", Ports: []corev1.ContainerPort{port("m", d.port)}})
	mk("e", e.ip, other, scrapeMe(), nil, corev1.Container{Name: "x", Ports: []corev1.ContainerPort{port("m", e.port)}})

	token := s.TokenForClusterRole(t, ns, "sonde", "cluster-admin")
	host := pipelinetest.NewHost()
	cache := kube.NewCache(quietLogger())

	// Every component gets arguments of its own, as from the config loader.
	nodes := func() *Arguments {
		a := DefaultArguments()
		a.Role, a.Node, a.ClientArgs = RoleNode, node, clientArgs(s, token)
		return a
	}
	kubeletScrape := func() *scrape.Arguments {
		a := scrapeArguments()
		a.HTTPClientConfig.BearerTokenFile = kubelet.tokenFile
		a.HTTPClientConfig.TLSConfig.CAFile = kubelet.caFile
		return a
	}
	pipelineOf(t, host, cache, "cadvisor", nodes(), rules.KubeletCAdvisor, kubeletScrape())
	pipelineOf(t, host, cache, "resource", nodes(), rules.KubeletResource, kubeletScrape())

	pods := DefaultArguments()
	pods.Role, pods.Node, pods.Namespaces.Names, pods.ClientArgs = RolePod, node, []string{ns}, clientArgs(s, token)
	pipelineOf(t, host, cache, "pods", pods, rules.AnnotatedPods, scrapeArguments())

	// Kubelet: cAdvisor series keep their namespace, pod and container, and get node, job
	// and metrics_path.
	cart := map[string]string{"namespace": "shop", "pod": "cart-5c9f7b6d8-qwert", "container": "cart", "node": node,
		"job": "kubelet", "instance": node}
	require.Eventually(t, func() bool {
		return len(series(host, "container_cpu_usage_seconds_total", merge(cart, "metrics_path", "/metrics/cadvisor"))) == 1 &&
			len(series(host, "container_memory_working_set_bytes", merge(cart, "metrics_path", "/metrics/resource"))) == 1
	}, 2*time.Minute, 50*time.Millisecond, "kubelet series with namespace/pod/container/node labels")

	// Pods: wait for three scrapes of every expected target.
	require.Eventually(t, func() bool {
		return aMetrics.hitsOf("/custom") >= 3 && b.hitsOf("/metrics") >= 3 && c.hitsOf("/metrics") >= 3
	}, 2*time.Minute, 50*time.Millisecond)
	require.Zero(t, aHTTP.total(), "pod a's other port is not scraped")
	require.Zero(t, d.total(), "a pod without the annotation is not scraped")
	require.Zero(t, e.total(), "a pod of another node is not scraped")

	podUp := func(pod string) []labels.Labels {
		return series(host, "up", map[string]string{"namespace": ns, "pod": pod})
	}
	want := map[string]map[string]string{
		"a": {"container": "app", "job": "shop-a", "instance": net.JoinHostPort(aMetrics.ip, fmt.Sprint(aMetrics.port))},
		"b": {"container": "server", "job": "shop-b", "instance": net.JoinHostPort(b.ip, fmt.Sprint(b.port))},
		"c": {"container": "main", "job": "main", "instance": net.JoinHostPort(c.ip, fmt.Sprint(c.port))},
	}
	for pod, labelsWant := range want {
		up := podUp(pod)
		require.Lenf(t, up, 1, "pod %s is one target, scraped once: %v", pod, up)
		require.Equal(t, node, up[0].Get("node"))
		for k, v := range labelsWant {
			require.Equalf(t, v, up[0].Get(k), "pod %s label %s", pod, k)
		}
	}
	require.Len(t, series(host, "app_requests_total", map[string]string{"namespace": ns, "pod": "a", "container": "app"}), 1)
}

func merge(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
