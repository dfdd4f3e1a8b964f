package k8sattributes

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var testPods = []Pod{
	{
		UID: "uid-web", Name: "web-5d9c7b8f6-x2x4q", Namespace: "shop", NodeName: "node-1", IP: "10.0.0.5",
		Containers:     []Container{{Name: "web", ID: "aaa"}, {Name: "envoy", ID: "bbb"}},
		ControllerKind: "ReplicaSet", ControllerName: "web-5d9c7b8f6",
	},
	{
		UID: "uid-db", Name: "db-0", Namespace: "shop", NodeName: "node-1", IP: "10.0.0.6",
		Containers: []Container{{Name: "postgres"}}, ControllerKind: "StatefulSet", ControllerName: "db",
	},
	// Two host-network pods share the node's address: neither is found by IP.
	{UID: "uid-h1", Name: "agent-a", Namespace: "kube-system", NodeName: "node-1", IP: "192.168.1.10", HostNetwork: true},
	{UID: "uid-h2", Name: "agent-b", Namespace: "kube-system", NodeName: "node-1", IP: "192.168.1.10", HostNetwork: true},
}

func withConn(ip string) context.Context {
	return client.NewContext(context.Background(), client.Info{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}})
}

func TestEnrich(t *testing.T) {
	lookup := NewStaticPods(testPods...)
	cases := []struct {
		name   string
		ctx    context.Context
		attrs  map[string]string
		result string
		want   map[string]string
		absent []string
	}{
		{
			name: "by connection ip", ctx: withConn("10.0.0.5"), result: resultEnriched,
			attrs: map[string]string{"container.id": "aaa"},
			want: map[string]string{
				"k8s.namespace.name": "shop", "k8s.pod.name": "web-5d9c7b8f6-x2x4q", "k8s.pod.uid": "uid-web",
				"k8s.node.name": "node-1", "k8s.container.name": "web", "k8s.deployment.name": "web",
				"k8s.replicaset.name": "web-5d9c7b8f6",
			},
		},
		{
			name: "by pod uid attribute beats the connection", ctx: withConn("10.0.0.5"), result: resultEnriched,
			attrs:  map[string]string{"k8s.pod.uid": "uid-db"},
			want:   map[string]string{"k8s.pod.name": "db-0", "k8s.container.name": "postgres", "k8s.statefulset.name": "db"},
			absent: []string{"k8s.deployment.name"},
		},
		{
			name: "by pod ip attribute (behind a proxy)", ctx: withConn("10.9.9.9"), result: resultEnriched,
			attrs: map[string]string{"k8s.pod.ip": "10.0.0.6"},
			want:  map[string]string{"k8s.pod.name": "db-0"},
		},
		{
			name: "several containers and no container.id: no container name", ctx: withConn("10.0.0.5"), result: resultEnriched,
			want:   map[string]string{"k8s.pod.name": "web-5d9c7b8f6-x2x4q"},
			absent: []string{"k8s.container.name"},
		},
		{
			name: "attributes already set are kept", ctx: withConn("10.0.0.6"), result: resultEnriched,
			attrs: map[string]string{"k8s.namespace.name": "mine", "k8s.container.name": "sidecar"},
			want:  map[string]string{"k8s.namespace.name": "mine", "k8s.container.name": "sidecar", "k8s.pod.name": "db-0"},
		},
		{
			name: "host network address is ambiguous", ctx: withConn("192.168.1.10"), result: resultNotFound,
			absent: []string{"k8s.pod.name"},
		},
		{
			name: "unknown pod", ctx: withConn("10.1.2.3"), result: resultNotFound,
			absent: []string{"k8s.pod.name"},
		},
		{
			name: "no identity at all", ctx: context.Background(), result: resultNoIdentity,
			absent: []string{"k8s.pod.name"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			td := oteltest.Traces(1, 1, tc.attrs)
			res := td.ResourceSpans().At(0).Resource()
			require.Equal(t, tc.result, enrich(res, lookup, connectionIP(tc.ctx)))
			for k, v := range tc.want {
				got, ok := res.Attributes().Get(k)
				require.True(t, ok, "missing %s", k)
				require.Equal(t, v, got.Str(), k)
			}
			for _, k := range tc.absent {
				_, ok := res.Attributes().Get(k)
				require.False(t, ok, "unexpected %s", k)
			}
		})
	}
}

func TestDeploymentOf(t *testing.T) {
	for rs, want := range map[string]string{
		"web-5d9c7b8f6":        "web",
		"my-app-v2-66b6c48dd5": "my-app-v2",
		"handmade":             "",
		"handmade-replicas":    "", // 'a', 'e' are not in the hash alphabet
		"trailing-":            "",
	} {
		require.Equal(t, want, deploymentOf(rs), rs)
	}
}

// podTargets are what Prometheus' pod discovery publishes for testPods[0] (one target
// per container port) and for an init container.
func podTargets() pipeline.Targets {
	base := model.LabelSet{
		metaNamespace: "shop", metaPodName: "web-5d9c7b8f6-x2x4q", metaPodUID: "uid-web",
		metaPodIP: "10.0.0.5", metaHostIP: "192.168.1.10", metaNodeName: "node-1",
		metaControllerKind: "ReplicaSet", metaControllerName: "web-5d9c7b8f6",
	}
	with := func(extra model.LabelSet) model.LabelSet { return base.Merge(extra) }
	return pipeline.Targets{
		with(model.LabelSet{"__address__": "10.0.0.5:8080", metaContainerName: "web", metaContainerID: "containerd://aaa", metaInit: "false"}),
		with(model.LabelSet{"__address__": "10.0.0.5:9090", metaContainerName: "web", metaContainerID: "containerd://aaa", metaInit: "false"}),
		with(model.LabelSet{"__address__": "10.0.0.5", metaContainerName: "envoy", metaContainerID: "containerd://bbb", metaInit: "false"}),
		with(model.LabelSet{"__address__": "10.0.0.5", metaContainerName: "setup", metaInit: "true"}),
		{"__address__": "node-1:10250"}, // another role: skipped
	}
}

func TestPodsFromTargets(t *testing.T) {
	pods := PodsFromTargets(podTargets())
	require.Len(t, pods, 1)
	require.Equal(t, Pod{
		UID: "uid-web", Name: "web-5d9c7b8f6-x2x4q", Namespace: "shop", NodeName: "node-1", IP: "10.0.0.5",
		Containers:     []Container{{Name: "web", ID: "aaa"}, {Name: "envoy", ID: "bbb"}},
		ControllerKind: "ReplicaSet", ControllerName: "web-5d9c7b8f6",
	}, pods[0])
}

func TestComponentWithPodTargets(t *testing.T) {
	host := pipelinetest.NewHost()
	sink := oteltest.NewSink().Register(host, "sink")
	a := DefaultArguments()
	a.Pods = []string{"discovery.kubernetes/pods"}
	a.Output.Traces = []string{"sink"}
	c, err := New(pipelinetest.Options(t, "otelcol.processor.k8sattributes/test", host), a)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	// Before discovery has published, nothing is found; the data still flows.
	require.NoError(t, c.Traces().ConsumeTraces(withConn("10.0.0.5"), oteltest.Traces(1, 1, nil)))
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.resources.WithLabelValues(resultNotFound)))

	host.SetTargets("discovery.kubernetes/pods", podTargets())
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.metrics.pods) == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, c.Traces().ConsumeTraces(withConn("10.0.0.5"), oteltest.Traces(2, 1, map[string]string{"container.id": "bbb"})))
	got := sink.AllTraces()
	require.Len(t, got, 2)
	attrs := got[1].ResourceSpans().At(0).Resource().Attributes()
	for k, v := range map[string]string{"k8s.pod.name": "web-5d9c7b8f6-x2x4q", "k8s.container.name": "envoy", "k8s.deployment.name": "web"} {
		val, ok := attrs.Get(k)
		require.True(t, ok, k)
		require.Equal(t, v, val.Str())
	}
	require.ErrorContains(t, c.Logs().ConsumeLogs(withConn("10.0.0.5"), oteltest.Logs(1, nil)), "has no logs output")
}

func TestValidate(t *testing.T) {
	a := DefaultArguments()
	err := a.Validate()
	require.ErrorContains(t, err, "pods: at least one")
	require.ErrorContains(t, err, "output")
}

func TestLifecycle(t *testing.T) {
	a := DefaultArguments()
	a.Pods = []string{"discovery.kubernetes/pods"}
	a.Output.Traces = []string{"x"}
	b := *a
	b.FromConnection = false
	pipelinetest.Lifecycle(t, Registration, a, &b)
}

func BenchmarkEnrich(b *testing.B) {
	lookup := NewStaticPods(testPods...)
	ctx := withConn("10.0.0.5")
	td := oteltest.Traces(1, 1, nil)
	b.ReportAllocs()
	for b.Loop() {
		res := td.ResourceSpans().At(0).Resource()
		res.Attributes().Clear()
		enrich(res, lookup, connectionIP(ctx))
	}
}
