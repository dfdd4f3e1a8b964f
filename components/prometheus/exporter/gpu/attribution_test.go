package gpu

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/podresources"
)

// listPods asks the kubelet at socket through the real client.
func listPods(t testing.TB, socket string, names []string) []podresources.Assignment {
	t.Helper()
	c, err := podresources.New(socket)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	as, err := c.List(ctx, func(r string) bool { return matchResource(names, r) })
	require.NoError(t, err)
	return as
}

func TestSplitReplica(t *testing.T) {
	for _, tc := range []struct{ id, key, replica string }{
		{"GPU-abc", "GPU-abc", ""},
		{"GPU-abc::3", "GPU-abc", "3"},
		{"MIG-def::0", "MIG-def", "0"},
		{"MIG-GPU-abc/1/0", "MIG-GPU-abc/1/0", ""},
		{"nvidia0", "nvidia0", ""},
		{"nvidia0/vgpu2", "nvidia0", "2"},
		{"nvidia1/gi3/vgpu0", "nvidia1/gi3", "0"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			key, replica := splitReplica(tc.id)
			require.Equal(t, tc.key, key)
			require.Equal(t, tc.replica, replica)
		})
	}
}

func TestMatchResource(t *testing.T) {
	for _, tc := range []struct {
		res  string
		want bool
	}{
		{"nvidia.com/gpu", true},
		{"nvidia.com/gpu.shared", true},
		{"nvidia.com/mig-1g.10gb", true},
		{"nvidia.com/mig", false},
		{"nvidia.com/gpus", false},
		{"amd.com/gpu", false},
	} {
		t.Run(tc.res, func(t *testing.T) {
			require.Equal(t, tc.want, matchResource(DefaultResourceNames, tc.res))
		})
	}
}

// TestAttributionFromKubelet reads the fake kubelet over gRPC on a unix socket and maps
// whole GPUs, MIG devices (several compute instances in one GPU instance) and
// time-sliced GPUs (several pods on one GPU) to their containers.
func TestAttributionFromKubelet(t *testing.T) {
	k := startKubelet(t, fakePods())
	as := listPods(t, k.socket, DefaultResourceNames)
	for _, a := range as {
		require.NotEqual(t, "example.com/sriov", a.Resource, "non-GPU resources are filtered out")
		require.NotEqual(t, "sidecar", a.Container, "containers without devices have no assignment")
	}
	attr := newAttribution(as)

	for _, tc := range []struct {
		name string
		keys []string
		want []podRef
	}{
		{"whole GPU", gpuKeys(uuid0, 0), []podRef{{"ml", "trainer-0", "trainer", ""}}},
		{"free GPU", gpuKeys(uuid1, 1), nil},
		{"MIG instance", migKeys(uuid1, 1, 1, []string{migA}, []int{0}), []podRef{{"inference", "llm-0", "server", ""}}},
		{"MIG instance with two compute instances", migKeys(uuid1, 1, 3, []string{migC1, migC2}, []int{0, 1}), []podRef{
			{"inference", "embed-0", "embed", ""}, {"inference", "embed-1", "embed", ""}}},
		{"time-sliced GPU", gpuKeys(uuid2, 2), []podRef{{"dev", "notebook-a", "jupyter", "0"}, {"dev", "notebook-b", "jupyter", "1"}}},
		{"legacy MIG id", migKeys(uuid1, 1, 2, []string{migB}, []int{0}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, attr.lookup(tc.keys))
		})
	}
}

// TestAttributionIDForms covers the device-id forms of the NVIDIA and GKE device plugins.
func TestAttributionIDForms(t *testing.T) {
	attr := newAttribution([]podresources.Assignment{
		{Namespace: "a", Pod: "legacy", Container: "c", DeviceIDs: []string{"MIG-" + uuid1 + "/2/0"}},
		{Namespace: "a", Pod: "gke", Container: "c", DeviceIDs: []string{"nvidia0/vgpu1", "nvidia1/gi3"}},
		{Namespace: "a", Pod: "twice", Container: "c", DeviceIDs: []string{uuid2 + "::0", uuid2 + "::0"}},
	})
	require.Equal(t, []podRef{{"a", "legacy", "c", ""}}, attr.lookup(migKeys(uuid1, 1, 2, []string{migB}, []int{0})))
	require.Equal(t, []podRef{{"a", "gke", "c", "1"}}, attr.lookup(gpuKeys(uuid0, 0)))
	require.Equal(t, []podRef{{"a", "gke", "c", ""}}, attr.lookup(migKeys(uuid1, 1, 3, nil, nil)))
	require.Equal(t, []podRef{{"a", "twice", "c", "0"}}, attr.lookup(gpuKeys(uuid2, 2)), "duplicates collapse")
	require.Nil(t, attr.lookup(gpuKeys(uuid2, -1)[:0]))
}
