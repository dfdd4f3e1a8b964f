package kubernetes

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	config_util "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sondehq/sonde/discovery/kubetest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// The scale check of the issue (a benchmark, not a test): an API server holding 5 000 pods
// on 100 nodes; one node's agent (role pod, node: its node) against a whole-cluster pod
// watch. Run it alone, once:
//
//	go test -run '^$' -bench NodeScopedDiscovery -benchtime 1x ./discovery/kubernetes/
//
// Reported per mode: targets, heap-MB (Go heap held after the initial list, GC'd before
// and after), list-KB (API bytes until the first snapshot), churn-KB (API bytes while 500
// pods spread over all nodes are relabelled), churn-events (pod events the agent handled).
const (
	benchNodes = 100
	benchPods  = 5000
	benchChurn = 500
)

func BenchmarkNodeScopedDiscovery(b *testing.B) {
	s := kubetest.Shared(b)
	ns := kubetest.Unique("bench")
	s.CreateNamespace(b, ns)
	createBenchPods(b, s, ns)

	for _, mode := range []string{"node", "cluster"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				runBenchMode(b, s, ns, mode)
			}
		})
	}
}

func runBenchMode(b *testing.B, s *kubetest.Server, ns, mode string) {
	proxy := s.NewProxy(b)
	u, err := url.Parse(proxy.URL)
	require.NoError(b, err)
	args := DefaultArguments()
	args.Role = RolePod
	args.Namespaces.Names = []string{ns}
	args.APIServer = config_util.URL{URL: u}
	args.HTTPClientConfig.BearerToken = config_util.Secret(kubetest.AdminToken)
	want := benchPods
	if mode == "node" {
		args.Node = benchNodeName(7)
		want = benchPods / benchNodes
	}

	before := heapAlloc()
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(b, "discovery.kubernetes/bench", host)
	require.NoError(b, args.Validate())
	c, err := New(opts, args)
	require.NoError(b, err)
	host.Export(opts.ID, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitCount(b, host, opts.ID, want)
	listBytes := proxy.Bytes()
	heap := heapAlloc() - before

	// Churn: relabel benchChurn pods spread over every node; count what reaches the agent.
	reg, ok := opts.Registerer.(prometheus.Gatherer)
	require.True(b, ok)
	events := func() float64 { return pipelinetest.MetricSum(b, reg, "sonde_discovery_kubernetes_events_total") }
	e0 := events()
	churn(b, s, ns, mode)
	wantEvents := float64(benchChurn)
	if mode == "node" {
		wantEvents = benchChurn / benchNodes
	}
	require.Eventually(b, func() bool { return events()-e0 >= wantEvents }, 2*time.Minute, 100*time.Millisecond)

	b.ReportMetric(float64(len(host.Published(opts.ID))), "targets")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
	b.ReportMetric(float64(listBytes)/1024, "list-KB")
	b.ReportMetric(float64(proxy.Bytes()-listBytes)/1024, "churn-KB")
	b.ReportMetric(events()-e0, "churn-events")
}

func benchNodeName(i int) string { return fmt.Sprintf("bench-node-%03d", i) }

// createBenchPods creates benchPods pods (one container, one port) round-robin on
// benchNodes nodes, with IPs, 16 at a time.
func createBenchPods(b *testing.B, s *kubetest.Server, ns string) {
	b.Helper()
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s.CreatePod(b, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: ns,
						Labels:      map[string]string{"app": fmt.Sprintf("app-%d", i%50), "app.kubernetes.io/name": "bench"},
						Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}},
					Spec: corev1.PodSpec{NodeName: benchNodeName(i % benchNodes), Containers: []corev1.Container{{
						Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
					}}},
				}, &kubetest.PodStatus{PodIP: fmt.Sprintf("10.%d.%d.%d", 100+i/65536, i/256%256, i%256), HostIP: "192.168.0.1", Ready: true})
			}
		}()
	}
	for i := range benchPods {
		work <- i
	}
	close(work)
	wg.Wait()
	b.Logf("created %d pods on %d nodes in %s", benchPods, benchNodes, time.Since(start).Round(time.Second))
}

// churn relabels benchChurn pods, the same number on every node.
func churn(b *testing.B, s *kubetest.Server, ns, mode string) {
	b.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{"churn":"%s-%d"}}}`, mode, time.Now().UnixNano())
	for i := range benchChurn {
		_, err := s.Admin.CoreV1().Pods(ns).Patch(context.Background(), fmt.Sprintf("pod-%05d", i), types.MergePatchType, patch, metav1.PatchOptions{})
		require.NoError(b, err)
	}
}

func waitCount(b *testing.B, host *pipelinetest.Host, id string, n int) {
	view := host.Targets([]string{id})
	defer view.Close()
	timeout := time.After(5 * time.Minute)
	for len(host.Published(id)) != n {
		select {
		case <-view.Changed():
		case <-timeout:
			b.Fatalf("published %d targets, want %d", len(host.Published(id)), n)
		}
	}
}

func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
