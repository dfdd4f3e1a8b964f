package monitor_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/sondehq/sonde/components/prometheus/operator/internal/monitor"
	"github.com/sondehq/sonde/components/prometheus/operator/podmonitors"
	"github.com/sondehq/sonde/components/prometheus/operator/probes"
	operatorscrape "github.com/sondehq/sonde/components/prometheus/operator/scrape"
	"github.com/sondehq/sonde/components/prometheus/operator/servicemonitors"
	"github.com/sondehq/sonde/components/prometheus/scrape"
	"github.com/sondehq/sonde/discovery/kubernetes"
	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

const node = "node-a"

// TestLifecycle is the lifecycle test every component passes. It runs first: connections
// that TestMonitors' other components (discovery, scrape) may still be closing would count
// as leaked here.
func TestLifecycle(t *testing.T) {
	s := kubetest.Shared(t)
	installCRDs(t, s)
	sm, sm2 := servicemonitors.DefaultArguments(), servicemonitors.DefaultArguments()
	sm.Targets, sm.ClientArgs = []string{"discovery.kubernetes/x"}, clientArgs(s)
	sm2.Targets, sm2.Selector, sm2.ClientArgs = []string{"discovery.kubernetes/y"}, "a=b", clientArgs(s)
	pipelinetest.Lifecycle(t, servicemonitors.Registration, sm, sm2)
	pm, pm2 := podmonitors.DefaultArguments(), podmonitors.DefaultArguments()
	pm.Targets, pm.ClientArgs = []string{"discovery.kubernetes/x"}, clientArgs(s)
	pm2.Targets, pm2.Namespaces, pm2.ClientArgs = []string{"discovery.kubernetes/x"}, []string{"default"}, clientArgs(s)
	pipelinetest.Lifecycle(t, podmonitors.Registration, pm, pm2)
	pr, pr2 := probes.DefaultArguments(), probes.DefaultArguments()
	pr.ClientArgs = clientArgs(s)
	pr2.Selector, pr2.ClientArgs = "a=b", clientArgs(s)
	pipelinetest.Lifecycle(t, probes.Registration, pr, pr2)
	sc, sc2 := operatorscrape.DefaultArguments(), operatorscrape.DefaultArguments()
	sc.Targets, sc.ForwardTo, sc.ClientArgs = []string{"prometheus.operator.probes/x"}, []string{"prometheus.remote_write/x"}, clientArgs(s)
	sc2.Targets, sc2.ForwardTo, sc2.ClientArgs = []string{"prometheus.operator.probes/x"}, []string{"prometheus.remote_write/y"}, clientArgs(s)
	pipelinetest.Lifecycle(t, operatorscrape.Registration, sc, sc2)
}

// TestMonitors runs discovery.kubernetes (pods of one node; endpointslices) into the two
// monitors components against a real kube-apiserver with the operator's CRDs, and a
// prometheus.scrape behind them against a real HTTP target.
func TestMonitors(t *testing.T) {
	s := kubetest.Shared(t)
	dc := installCRDs(t, s)
	ns := kubetest.Unique("op")
	s.CreateNamespace(t, ns)

	// The "pod": an HTTP server on 127.0.0.1 serving metrics, counting scrapes.
	var scrapes atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := int32(l.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/custom" {
			http.NotFound(w, r)
			return
		}
		scrapes.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE demo_up gauge\ndemo_up{format=%q} 1\n", r.URL.Query().Get("format"))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	labels := map[string]string{"app": "demo", "team": "core"}
	pod := s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-0", Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "app", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: port}, {Name: "other", ContainerPort: 1}},
		}}},
	}, &kubetest.PodStatus{PodIP: "127.0.0.1", HostIP: "127.0.0.1", Ready: true})
	// A pod on another node: a node-local PodMonitor never sees it.
	s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-1", Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{NodeName: "node-b", Containers: []corev1.Container{{
			Name: "app", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: port}},
		}}},
	}, &kubetest.PodStatus{PodIP: "127.0.0.2", HostIP: "127.0.0.2", Ready: true})
	s.CreateService(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: ns, Labels: map[string]string{"app": "demo", "tier": "web"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "web", Port: 80}}},
	})
	s.CreateEndpointSlice(t, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "demo-abc", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "demo"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{"10.96.0.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			NodeName:  ptr.To(node),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, UID: pod.UID},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("web"), Port: ptr.To(port)}},
	})

	cache := pipelinetest.Options(t, "cache", nil).Kube
	host := pipelinetest.NewHost()
	client := clientArgs(s)
	pods := kubernetes.DefaultArguments()
	pods.Role, pods.Node, pods.Namespaces.Names, pods.ClientArgs = kubernetes.RolePod, node, []string{ns}, client
	start(t, host, cache, "discovery.kubernetes/pods", kubernetes.Registration, pods)
	eps := kubernetes.DefaultArguments()
	eps.Role, eps.Namespaces.Names, eps.ClientArgs = kubernetes.RoleEndpointSlice, []string{ns}, client
	start(t, host, cache, "discovery.kubernetes/slices", kubernetes.Registration, eps)

	pmArgs := podmonitors.DefaultArguments()
	pmArgs.Targets, pmArgs.Namespaces, pmArgs.ClientArgs = []string{"discovery.kubernetes/pods"}, []string{ns}, client
	pm := start(t, host, cache, "prometheus.operator.podmonitors/pods", podmonitors.Registration, pmArgs)
	smArgs := servicemonitors.DefaultArguments()
	smArgs.Targets, smArgs.Namespaces, smArgs.ClientArgs = []string{"discovery.kubernetes/slices"}, []string{ns}, client
	sm := start(t, host, cache, "prometheus.operator.servicemonitors/services", servicemonitors.Registration, smArgs)

	// Before any monitor: nothing.
	waitFor(t, host, pm.id, "no podmonitor targets", func(ts pipeline.Targets) bool { return len(ts) == 0 })

	create(t, dc, "podmonitors", ns, `
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: demo}
spec:
  selector: {matchLabels: {app: demo}}
  podTargetLabels: [team]
  podMetricsEndpoints:
  - port: metrics
    path: /custom
    interval: 1s
    params: {format: [prometheus]}
    honorLabels: true
    metricRelabelings: [{action: drop, sourceLabels: [__name__], regex: nothing}]
    relabelings:
    - {sourceLabels: [__meta_kubernetes_pod_node_name], targetLabel: node}
`)
	ts := waitFor(t, host, pm.id, "one podmonitor target", func(ts pipeline.Targets) bool { return len(ts) == 1 })
	want := map[model.LabelName]model.LabelValue{
		"__address__": model.LabelValue(net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))),
		"job":         model.LabelValue(ns + "/demo"), "namespace": model.LabelValue(ns), "pod": "demo-0",
		"container": "app", "endpoint": "metrics", "team": "core", "node": node,
		"__metrics_path__": "/custom", "__scheme__": "http", "__scrape_interval__": "1s", "__scrape_timeout__": "1s",
		"__param_format": "prometheus", monitor.HonorLabelsLabel: "true",
		"__tmp_prometheus_job_name": model.LabelValue("podMonitor/" + ns + "/demo/0"),
	}
	for k, v := range want {
		require.Equal(t, v, ts[0][k], "label %s of %s", k, ts[0])
	}
	require.Contains(t, string(ts[0][monitor.SettingsLabel]), `"metricRelabelings":[{"sourceLabels":["__name__"],`, "metricRelabelings travel to prometheus.operator.scrape")
	require.Equal(t, 0.0, pipelinetest.MetricValue(t, pm.reg, "sonde_prometheus_operator_ignored_fields"))

	// The target is scraped by prometheus.scrape with the endpoint's path and params.
	sc := scrape.DefaultArguments()
	sc.Targets, sc.ForwardTo = []string{pm.id}, []string{"prometheus.remote_write/x"}
	start(t, host, cache, "prometheus.scrape/monitors", scrape.Registration, sc)
	require.Eventually(t, func() bool {
		for _, smp := range host.Sink.Samples() {
			if smp.Labels.Get("__name__") == "demo_up" && smp.Labels.Get("job") == ns+"/demo" &&
				smp.Labels.Get("format") == "prometheus" && smp.Labels.Get("pod") == "demo-0" {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "demo_up scraped with the operator's labels")

	// ServiceMonitors: one good (port by name, jobLabel, targetLabels), one selecting a port
	// no service has (no targets, not an error), one invalid (a bad regex), one with a
	// TLS setting sonde does not support (a file of the operator's Prometheus: its endpoint
	// is skipped).
	create(t, dc, "servicemonitors", ns, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: demo}
spec:
  selector: {matchExpressions: [{key: tier, operator: In, values: [web, api]}]}
  jobLabel: app
  targetLabels: [tier]
  endpoints:
  - {port: web, interval: 30s, scrapeTimeout: 5s}
`)
	create(t, dc, "servicemonitors", ns, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: unknown-port}
spec:
  selector: {matchLabels: {app: demo}}
  endpoints: [{port: nosuchport}]
`)
	create(t, dc, "servicemonitors", ns, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: bad-regex}
spec:
  selector: {matchLabels: {app: demo}}
  endpoints: [{port: web, relabelings: [{sourceLabels: [pod], regex: "([", targetLabel: x}]}]
`)
	create(t, dc, "servicemonitors", ns, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: tls}
spec:
  selector: {matchLabels: {app: demo}}
  endpoints: [{port: web, scheme: https, tlsConfig: {caFile: /etc/prometheus/ca.pem}}]
`)
	ts = waitFor(t, host, sm.id, "one servicemonitor target", func(ts pipeline.Targets) bool {
		return len(ts) == 1 && pipelinetest.MetricValue(t, sm.reg, "sonde_prometheus_operator_monitors", "state", "invalid") == 1
	})
	want = map[model.LabelName]model.LabelValue{
		"__address__": model.LabelValue(net.JoinHostPort("10.96.0.10", strconv.Itoa(int(port)))),
		"job":         "demo", "namespace": model.LabelValue(ns), "service": "demo", "pod": "demo-0", "endpoint": "web",
		"tier": "web", "__scrape_interval__": "30s", "__scrape_timeout__": "5s", "__metrics_path__": "/metrics",
		"__tmp_prometheus_job_name": model.LabelValue("serviceMonitor/" + ns + "/demo/0"),
	}
	for k, v := range want {
		require.Equal(t, v, ts[0][k], "label %s of %s", k, ts[0])
	}
	require.Equal(t, 3.0, pipelinetest.MetricValue(t, sm.reg, "sonde_prometheus_operator_monitors", "state", "valid"))
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, sm.reg, "sonde_prometheus_operator_endpoints", "state", "skipped"))
	require.Equal(t, 2.0, pipelinetest.MetricValue(t, sm.reg, "sonde_prometheus_operator_endpoints", "state", "active"))
	require.Contains(t, pm.logs.String()+sm.logs.String(), "monitor is invalid")

	// Deleting the PodMonitor withdraws its target.
	require.NoError(t, dc.Resource(monitor.Group.WithResource("podmonitors")).Namespace(ns).Delete(context.Background(), "demo", metav1.DeleteOptions{}))
	waitFor(t, host, pm.id, "podmonitor target gone", func(ts pipeline.Targets) bool { return len(ts) == 0 })
}

// TestValidate checks that bad arguments name their field.
func TestValidate(t *testing.T) {
	a := servicemonitors.DefaultArguments()
	a.Namespaces, a.Selector = []string{"Bad_NS"}, "a in (b"
	require.ElementsMatch(t, []string{"targets", "namespaces[0]", "selector"}, pipelinetest.FieldsOf(a.Validate()))
	p := probes.DefaultArguments()
	p.Namespaces, p.Selector = []string{"Bad_NS"}, "a in (b"
	require.ElementsMatch(t, []string{"namespaces[0]", "selector"}, pipelinetest.FieldsOf(p.Validate()))
	sc := operatorscrape.DefaultArguments()
	sc.ScrapeInterval, sc.ScrapeTimeout, sc.SecretsRefreshInterval = 0, -1, 0
	require.ElementsMatch(t, []string{"targets", "forward_to", "scrape_interval", "scrape_timeout", "secrets_refresh_interval"},
		pipelinetest.FieldsOf(sc.Validate()))
}

type running struct {
	id   string
	reg  *prometheus.Registry
	logs *pipelinetest.LogBuffer
}

func start(t *testing.T, host *pipelinetest.Host, cache *kube.Cache, id string, reg pipeline.Registration, args pipeline.Arguments) *running {
	t.Helper()
	opts := pipelinetest.Options(t, id, host)
	opts.Kube = cache
	r := prometheus.NewRegistry()
	opts.Registerer = r
	logs := &pipelinetest.LogBuffer{}
	opts.Logger = logs.Logger(-4)
	c, err := reg.New(opts, args)
	require.NoError(t, err)
	host.Export(id, c)
	pipelinetest.Run(t, c)
	return &running{id: id, reg: r, logs: logs}
}

func waitFor(t *testing.T, host *pipelinetest.Host, id, what string, cond func(pipeline.Targets) bool) pipeline.Targets {
	t.Helper()
	view := host.Targets([]string{id})
	defer view.Close()
	timeout := time.After(time.Minute)
	for {
		ts := host.Published(id)
		if ts != nil && cond(ts) {
			return ts
		}
		select {
		case <-view.Changed():
		case <-time.After(100 * time.Millisecond): // metrics conditions change without a publication
		case <-timeout:
			t.Fatalf("waiting for %s; last published: %v", what, ts)
		}
	}
}

func clientArgs(s *kubetest.Server) kube.ClientArgs {
	u, err := url.Parse(s.URL)
	if err != nil {
		panic(err)
	}
	c := kube.DefaultClientArgs()
	c.APIServer = config_util.URL{URL: u}
	c.HTTPClientConfig.BearerToken = config_util.Secret(kubetest.AdminToken)
	c.HTTPClientConfig.TLSConfig.CAFile = s.CAFile
	return c
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs installs the operator's published CRDs (testdata/crds) once per API server
// and waits until their resources are served.
func installCRDs(t *testing.T, s *kubetest.Server) dynamic.Interface {
	t.Helper()
	dc, err := dynamic.NewForConfig(s.RestConfig(kubetest.AdminToken))
	require.NoError(t, err)
	for _, f := range []string{"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_podmonitors.yaml", "monitoring.coreos.com_probes.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "crds", f))
		require.NoError(t, err)
		u := decode(t, strings.TrimPrefix(string(b), "---\n"))
		_, err = dc.Resource(crdGVR).Create(context.Background(), u, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("install %s: %v", f, err)
		}
	}
	for _, res := range []string{"servicemonitors", "podmonitors", "probes"} {
		require.Eventually(t, func() bool {
			_, err := dc.Resource(monitor.Group.WithResource(res)).List(context.Background(), metav1.ListOptions{Limit: 1})
			return err == nil
		}, 30*time.Second, 50*time.Millisecond, "%s served", res)
	}
	return dc
}

func create(t *testing.T, dc dynamic.Interface, res, ns, doc string) {
	t.Helper()
	u := decode(t, doc)
	_, err := dc.Resource(monitor.Group.WithResource(res)).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{})
	require.NoError(t, err, "create %s", res)
}

func decode(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	obj := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
	return &unstructured.Unstructured{Object: obj}
}
