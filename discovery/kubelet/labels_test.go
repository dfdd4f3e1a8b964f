package kubelet

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promk8s "github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/sondehq/sonde/discovery/kubernetes"
)

// testPods covers every branch of the pod labels: ports and port-less containers, init
// containers, container IDs, a controller, labels and annotations needing sanitising,
// readiness, a pod without IP and an annotated port.
func testPods() []*corev1.Pod {
	running := corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: "10.0.0.7", HostIP: "192.168.1.2",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", ContainerID: "containerd://aaa"},
			{Name: "sidecar", ContainerID: "containerd://bbb"},
		},
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", ContainerID: "containerd://ccc"}},
	}
	return []*corev1.Pod{
		{
			ObjectMeta: metav1.ObjectMeta{
				Name: "web-1", Namespace: "shop", UID: "uid-1",
				Labels:      map[string]string{"app.kubernetes.io/name": "web", "tier": "front"},
				Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "example.com/x-y": "z"},
				OwnerReferences: []metav1.OwnerReference{
					{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d4f", UID: "rs", Controller: ptr.To(true)},
				},
			},
			Spec: corev1.PodSpec{
				NodeName: "node-a",
				Containers: []corev1.Container{
					{Name: "app", Image: "web:1", Ports: []corev1.ContainerPort{
						{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
						{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
					}},
					{Name: "sidecar", Image: "envoy:1"},
				},
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox", Ports: []corev1.ContainerPort{{ContainerPort: 1, Protocol: corev1.ProtocolUDP}}}},
			},
			Status: running,
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "shop", UID: "uid-2"},
			Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "db", Image: "pg:16"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodPending, PodIP: "10.0.0.8"},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "starting", Namespace: "shop", UID: "uid-3"},
			Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "x", Image: "x"}}},
		},
	}
}

// prometheusGroups runs Prometheus' own pod discoverer over pods (through an in-memory
// informer) and returns the group it builds for each, by source.
func prometheusGroups(t *testing.T, pods []*corev1.Pod) map[string]*targetgroup.Group {
	t.Helper()
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
	for _, p := range pods {
		list.Items = append(list.Items, *p)
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) { return list, nil },
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFake(), nil
		},
	}
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, noWatchList{}), &corev1.Pod{}, 0, cache.Indexers{})
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "e"}, []string{"role", "event"})
	d := promk8s.NewPod(slog.New(slog.NewTextHandler(io.Discard, nil)), inf, nil, nil, nil, nil, false, false, false, events)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	ch := make(chan []*targetgroup.Group)
	go d.Run(ctx, ch)
	out := map[string]*targetgroup.Group{}
	timeout := time.After(30 * time.Second)
	for len(out) < len(pods) {
		select {
		case tgs := <-ch:
			for _, tg := range tgs {
				out[tg.Source] = tg
			}
		case <-timeout:
			t.Fatalf("Prometheus' discoverer built %d of %d groups", len(out), len(pods))
		}
	}
	return out
}

// noWatchList tells the reflector that the in-memory ListWatch has no watch-list streams.
type noWatchList struct{}

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }

func TestLabelsMatchPrometheus(t *testing.T) {
	pods := testPods()
	want := prometheusGroups(t, pods)
	for _, p := range pods {
		t.Run(p.Name, func(t *testing.T) {
			got := podGroup(p)
			exp := want[got.Source]
			require.NotNil(t, exp, "source %s", got.Source)
			kubernetes.MarkAnnotatedPortTarget(exp) // sonde's addition, on both sides
			require.Equal(t, exp.Labels, got.Labels)
			require.Equal(t, exp.Targets, got.Targets)
		})
	}
}

func TestAnnotatedPortMarked(t *testing.T) {
	g := podGroup(testPods()[0])
	var marked []string
	for _, tg := range g.Targets {
		if tg[kubernetes.AnnotatedPortTargetLabel] == "true" {
			marked = append(marked, string(tg["__address__"]))
		}
	}
	require.Equal(t, []string{"10.0.0.7:9090"}, marked)
}

func BenchmarkPodGroup(b *testing.B) {
	p := testPods()[0]
	b.ReportAllocs()
	for b.Loop() {
		_ = podGroup(p)
	}
}
