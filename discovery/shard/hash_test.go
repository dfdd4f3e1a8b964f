package shard

import (
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/pipeline"
)

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = Key(model.LabelSet{"__address__": model.LabelValue(fmt.Sprintf("svc-%d.ns.svc:8080", i)), "job": "x"})
	}
	return out
}

func TestOwnerSpreadsEvenly(t *testing.T) {
	members := []string{"node-a", "node-b", "node-c", "node-d"}
	count := map[string]int{}
	for _, k := range keys(4000) {
		count[Owner(members, k)]++
	}
	for _, m := range members {
		require.InDelta(t, 1000, count[m], 150, "member %s owns %d of 4000", m, count[m])
	}
}

func TestOwnerMovesOnlyTheLeaversKeys(t *testing.T) {
	all := []string{"node-a", "node-b", "node-c"}
	without := []string{"node-a", "node-c"}
	for _, k := range keys(1000) {
		before, after := Owner(all, k), Owner(without, k)
		if before != "node-b" {
			require.Equal(t, before, after, "a key of a remaining member moved")
		} else {
			require.NotEqual(t, "node-b", after)
		}
		require.Equal(t, before, Owner([]string{"node-c", "node-b", "node-a"}, k), "member order does not matter")
	}
	require.Equal(t, "", Owner(nil, "k"))
}

func TestKeyIgnoresMetaLabels(t *testing.T) {
	a := model.LabelSet{"__address__": "x:1", "job": "j", "__meta_kubernetes_service_label_a": "1"}
	b := model.LabelSet{"__address__": "x:1", "job": "j", "__meta_kubernetes_service_label_a": "2"}
	c := model.LabelSet{"__address__": "x:1", "job": "k"}
	require.Equal(t, Key(a), Key(b))
	require.NotEqual(t, Key(a), Key(c))
}

func TestMembers(t *testing.T) {
	now := time.Now()
	pod := func(name, node string, ready bool, age time.Duration) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Spec:       corev1.PodSpec{NodeName: node},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
		}
	}
	terminating := pod("sonde-t", "node-t", true, time.Hour)
	terminating.DeletionTimestamp = &metav1.Time{Time: now}
	pending := pod("sonde-p", "node-p", true, time.Hour)
	pending.Status.Phase = corev1.PodPending

	tests := []struct {
		name    string
		pods    []*corev1.Pod
		own     string
		members []string
		self    string
	}{
		{name: "ready pods, by node", pods: []*corev1.Pod{pod("sonde-b", "node-b", true, time.Hour), pod("sonde-a", "node-a", true, time.Hour)},
			own: "sonde-a", members: []string{"node-a", "node-b"}, self: "node-a"},
		{name: "not ready, terminating, pending are out", pods: []*corev1.Pod{pod("sonde-a", "node-a", true, time.Hour),
			pod("sonde-u", "node-u", false, time.Hour), terminating, pending}, own: "sonde-u", members: []string{"node-a"}, self: ""},
		{name: "surge: the older pod of a node holds it", pods: []*corev1.Pod{pod("sonde-old", "node-a", true, time.Hour),
			pod("sonde-new", "node-a", true, time.Minute)}, own: "sonde-new", members: []string{"node-a"}, self: ""},
		{name: "surge: seen from the older", pods: []*corev1.Pod{pod("sonde-old", "node-a", true, time.Hour),
			pod("sonde-new", "node-a", true, time.Minute)}, own: "sonde-old", members: []string{"node-a"}, self: "node-a"},
		{name: "unscheduled pod named by itself", pods: []*corev1.Pod{pod("sonde-x", "", true, time.Hour)}, own: "sonde-x",
			members: []string{"sonde-x"}, self: "sonde-x"},
		{name: "none", own: "sonde-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			members, self := Members(tt.pods, tt.own)
			require.Equal(t, tt.members, members)
			require.Equal(t, tt.self, self)
		})
	}
}

func TestOwnPartitions(t *testing.T) {
	var in pipeline.Targets
	for i := range 100 {
		in = append(in, model.LabelSet{"__address__": model.LabelValue(fmt.Sprintf("t%d:80", i))})
	}
	members := []string{"a", "b", "c"}
	seen := map[string]int{}
	for _, m := range members {
		for _, t := range Own(in, members, m) {
			seen[string(t["__address__"])]++
		}
	}
	require.Len(t, seen, 100)
	for addr, n := range seen {
		require.Equal(t, 1, n, addr)
	}
	require.Empty(t, Own(in, members, ""))
}

func BenchmarkOwn(b *testing.B) {
	var in pipeline.Targets
	for i := range 1000 {
		in = append(in, model.LabelSet{"__address__": model.LabelValue(fmt.Sprintf("t%d:80", i)), "job": "ksm",
			"__meta_kubernetes_service_name": "x"})
	}
	members := make([]string, 100)
	for i := range members {
		members[i] = fmt.Sprintf("node-%d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = Own(in, members, "node-7")
	}
}

func TestScoreIsFNV1aMixed(t *testing.T) {
	// The inlined FNV-1a must equal hash/fnv's: agents of different sonde versions must
	// agree on owners.
	h := fnv.New64a()
	_, _ = h.Write([]byte("node-a\x00key"))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	require.Equal(t, x, score("node-a", "key"))
}
