package monitor_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/sondehq/sonde/components/prometheus/operator/internal/monitor"
	"github.com/sondehq/sonde/components/prometheus/operator/probes"
	"github.com/sondehq/sonde/components/prometheus/scrape"
	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/discovery/shard"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// prober stands for blackbox-exporter: it answers /probe with probe_success for the module
// and target it was asked for, and records the requests.
type prober struct {
	addr string
	mu   sync.Mutex
	seen map[string]bool // "module target"
}

func startProber(t *testing.T) *prober {
	t.Helper()
	p := &prober{seen: map[string]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = l.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/probe" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		p.mu.Lock()
		p.seen[q.Get("module")+" "+q.Get("target")] = true
		p.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE probe_success gauge\nprobe_success{probed_module=%q,probed_target=%q} 1\n", q.Get("module"), q.Get("target"))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *prober) probed(module, target string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[module+" "+target]
}

// TestProbes creates Probes (static targets; Ingress targets) on a real kube-apiserver
// with the operator's Probe CRD, checks the targets prometheus.operator.probes publishes,
// and has prometheus.scrape probe them through a prober stub.
func TestProbes(t *testing.T) {
	s := kubetest.Shared(t)
	dc := installCRDs(t, s)
	ns := kubetest.Unique("probe")
	s.CreateNamespace(t, ns)
	pr := startProber(t)

	host := pipelinetest.NewHost()
	cache := pipelinetest.Options(t, "cache", nil).Kube
	args := probes.DefaultArguments()
	args.Namespaces, args.ClientArgs = []string{ns}, clientArgs(s)
	p := start(t, host, cache, "prometheus.operator.probes/default", probes.Registration, args)
	waitFor(t, host, p.id, "no probe targets", func(ts pipeline.Targets) bool { return len(ts) == 0 })

	create(t, dc, "probes", ns, fmt.Sprintf(`
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: websites}
spec:
  prober: {url: %q}
  module: http_2xx
  interval: 1s
  params: [{name: module, values: [ignored]}, {name: debug, values: ["false"]}]
  metricRelabelings: [{action: drop, sourceLabels: [__name__], regex: nothing}]
  targets:
    staticConfig:
      static: [https://example.com, http://shop.test/health]
      labels: {env: prod}
      relabelingConfigs:
      - {sourceLabels: [__param_target], regex: "https://.*", targetLabel: secure, replacement: "yes"}
`, pr.addr))
	ts := waitFor(t, host, p.id, "two static probe targets", func(ts pipeline.Targets) bool { return len(ts) == 2 })
	sort.Slice(ts, func(i, j int) bool { return ts[i]["instance"] < ts[j]["instance"] })
	for i, target := range []string{"http://shop.test/health", "https://example.com"} {
		want := model.LabelSet{
			"__address__": model.LabelValue(pr.addr), "__param_target": model.LabelValue(target), "instance": model.LabelValue(target),
			"__param_module": "http_2xx", "__param_debug": "false", "__metrics_path__": "/probe", "__scheme__": "http",
			"__scrape_interval__": "1s", "__scrape_timeout__": "1s",
			"job": model.LabelValue("probe/" + ns + "/websites"), "namespace": model.LabelValue(ns), "env": "prod",
			"__tmp_prometheus_job_name": model.LabelValue("probe/" + ns + "/websites"),
		}
		if i == 1 {
			want["secure"] = "yes"
		}
		want[monitor.SettingsLabel] = model.LabelValue(`{"namespace":"` + ns + `","metricRelabelings":[{"sourceLabels":["__name__"],"regex":"nothing","action":"drop"}]}`)
		require.Equal(t, want, ts[i])
	}
	require.Equal(t, 0.0, pipelinetest.MetricValue(t, p.reg, "sonde_prometheus_operator_ignored_fields"))

	// Ingress targets: the selected Ingress' hosts and paths, https where TLS covers the host.
	cs, err := kubernetes.NewForConfig(s.RestConfig(kubetest.AdminToken))
	require.NoError(t, err)
	ingress := func(name string, labels map[string]string) {
		pt := networkingv1.PathTypePrefix
		backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
		_, err := cs.NetworkingV1().Ingresses(ns).Create(context.Background(), &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: networkingv1.IngressSpec{
				IngressClassName: ptr.To("nginx"),
				TLS:              []networkingv1.IngressTLS{{Hosts: []string{"*.example.org"}}},
				Rules: []networkingv1.IngressRule{
					{Host: name + ".example.org", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
						{Path: "/a", PathType: &pt, Backend: backend}, {Path: "/b", PathType: &pt, Backend: backend},
					}}}},
					{Host: name + ".plain.test"},
				},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	ingress("shop", map[string]string{"probe": "yes"})
	ingress("internal", nil)
	create(t, dc, "probes", ns, fmt.Sprintf(`
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: ingresses}
spec:
  jobName: blackbox
  prober: {url: %q, path: /probe}
  module: http_2xx
  interval: 1s
  targets:
    ingress:
      selector: {matchLabels: {probe: "yes"}}
`, pr.addr))
	ts = waitFor(t, host, p.id, "two static and three ingress probe targets", func(ts pipeline.Targets) bool { return len(ts) == 5 })
	var got []string
	for _, tg := range ts {
		if tg["job"] == "blackbox" {
			require.Equal(t, model.LabelValue("shop"), tg["ingress"], "target %s", tg)
			require.Equal(t, model.LabelValue(ns), tg["namespace"], "target %s", tg)
			require.Equal(t, tg["__param_target"], tg["instance"], "target %s", tg)
			require.Equal(t, model.LabelValue(pr.addr), tg["__address__"], "target %s", tg)
			got = append(got, string(tg["instance"]))
		}
	}
	require.ElementsMatch(t, []string{"https://shop.example.org/a", "https://shop.example.org/b", "http://shop.plain.test/"}, got)

	// prometheus.scrape asks the prober for each target with its module.
	sc := scrape.DefaultArguments()
	sc.Targets, sc.ForwardTo = []string{p.id}, []string{"prometheus.remote_write/x"}
	start(t, host, cache, "prometheus.scrape/probes", scrape.Registration, sc)
	require.Eventually(t, func() bool {
		return pr.probed("http_2xx", "https://example.com") && pr.probed("http_2xx", "https://shop.example.org/b")
	}, 30*time.Second, 50*time.Millisecond, "the prober was asked for the targets")
	require.Eventually(t, func() bool {
		for _, smp := range host.Sink.Samples() {
			if smp.Labels.Get("__name__") == "probe_success" && smp.Labels.Get("job") == "probe/"+ns+"/websites" &&
				smp.Labels.Get("instance") == "https://example.com" && smp.Labels.Get("probed_target") == "https://example.com" &&
				smp.Labels.Get("probed_module") == "http_2xx" && smp.Labels.Get("secure") == "yes" {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "probe_success scraped with the operator's labels")

	// Deleting the static Probe withdraws its targets.
	require.NoError(t, dc.Resource(monitor.Group.WithResource("probes")).Namespace(ns).Delete(context.Background(), "websites", metav1.DeleteOptions{}))
	waitFor(t, host, p.id, "static probe targets gone", func(ts pipeline.Targets) bool { return len(ts) == 3 })
}

// TestProbesShardedOnce runs two agents (prometheus.operator.probes then discovery.shard,
// each with its own cache, as in its own pod) over one Probe's static targets: every
// target is published by exactly one agent, and each agent probes some.
func TestProbesShardedOnce(t *testing.T) {
	s := kubetest.Shared(t)
	dc := installCRDs(t, s)
	ns := kubetest.Unique("probe-shard")
	s.CreateNamespace(t, ns)
	var static []string
	for i := range 40 {
		static = append(static, fmt.Sprintf("https://site-%02d.example.com", i))
	}
	create(t, dc, "probes", ns, fmt.Sprintf(`
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: sites}
spec:
  prober: {url: "blackbox.monitoring:9115"}
  module: http_2xx
  targets: {staticConfig: {static: [%s]}}
`, strings.Join(static, ", ")))

	type agent struct {
		host *pipelinetest.Host
		id   string
	}
	var agents []agent
	for _, n := range []string{"node-a", "node-b"} {
		pod := s.CreatePod(t, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "sonde-" + n, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/name": "sonde"}},
			Spec:       corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: "sonde"}}},
		}, nil)
		s.SetPodStatus(t, pod, kubetest.PodStatus{PodIP: "10.2.0.1", Ready: true})

		host := pipelinetest.NewHost()
		cache := pipelinetest.Options(t, "cache-"+n, nil).Kube // one cache per agent, as in its own process
		args := probes.DefaultArguments()
		args.Namespaces, args.ClientArgs = []string{ns}, clientArgs(s)
		p := start(t, host, cache, "prometheus.operator.probes/default", probes.Registration, args)
		sh := shard.DefaultArguments()
		sh.Targets, sh.Namespace, sh.PodName, sh.ClientArgs = []string{p.id}, ns, "sonde-"+n, clientArgs(s)
		agents = append(agents, agent{host: host, id: start(t, host, cache, "discovery.shard/probes", shard.Registration, sh).id})
	}
	require.Eventually(t, func() bool {
		owners := map[model.LabelValue]int{}
		for _, a := range agents {
			ts := a.host.Published(a.id)
			if len(ts) == 0 {
				return false // each agent probes some
			}
			for _, tg := range ts {
				owners[tg["instance"]]++
			}
		}
		if len(owners) != len(static) {
			return false
		}
		for _, n := range owners {
			if n != 1 {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "every probe target published by exactly one agent")
}
