package unix

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/config"
)

// presetArgs returns the arguments of prometheus.exporter.unix/host in the built-in preset.
func presetArgs(t *testing.T, preset string) *Arguments {
	t.Helper()
	y, err := config.RenderPreset(preset, config.PresetData{})
	require.NoError(t, err)
	expanded, err := config.Expand(string(y), func(v string) (string, bool) { return "node-1", v == "NODE_NAME" })
	require.NoError(t, err)
	var doc struct {
		Components map[string]yaml.Node `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(expanded), &doc))
	n, ok := doc.Components["prometheus.exporter.unix/host"]
	require.True(t, ok)
	a := DefaultArguments()
	require.NoError(t, n.Decode(a))
	return a
}

// TestKubeletNodeFilesystems runs the filesystem collector on a Kubernetes node's mount
// table (testdata/kubelet-node): with the daemonset preset's settings only the node's own
// filesystems are reported, not every pod volume, container root and sandbox shm, which
// node_exporter's default (the host preset's) reports.
func TestKubeletNodeFilesystems(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("testdata", "kubelet-node"))
	require.NoError(t, err)
	node := []string{"/", "/boot/efi", "/run", "/run/user/1000", "/var/lib/containerd", "/var/lib/kubelet"}
	podMounts := []string{
		"/var/lib/kubelet/pods/5f0c6a1e-2b7d-4d1c-9c1e-0a6f1d3b7e21/volumes/kubernetes.io~projected/kube-api-access-x2k9p",
		"/var/lib/kubelet/pods/5f0c6a1e-2b7d-4d1c-9c1e-0a6f1d3b7e21/volumes/kubernetes.io~secret/tls",
		"/var/lib/kubelet/pods/7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/volumes/kubernetes.io~empty-dir/cache",
		"/var/lib/kubelet/pods/7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/volumes/kubernetes.io~csi/pvc-0b1d2c3e/mount",
		"/var/lib/kubelet/plugins/kubernetes.io/csi/ebs.csi.aws.com/4f7e/globalmount",
		"/run/containerd/io.containerd.grpc.v1.cri/sandboxes/0d6f1c9e/shm",
		"/run/k3s/containerd/io.containerd.grpc.v1.cri/sandboxes/3c1a7f0b/shm",
		"/run/containers/storage/overlay-containers/6e2d8b1f/userdata/shm",
	}
	for _, tc := range []struct {
		preset string
		want   []string
	}{
		{"daemonset", node},
		{"host", append(slices.Clone(node), podMounts...)},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			a := presetArgs(t, tc.preset)
			a.Collectors = []string{"filesystem"}
			a.ProcfsPath, a.SysfsPath, a.RootfsPath = filepath.Join(root, "proc"), filepath.Join(root, "sys"), root
			r := start(t, "prometheus.exporter.unix/"+tc.preset, a)
			fams := parse(t, r.waitServing(t))
			var got []string
			for _, m := range fams["node_filesystem_device_error"].GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "mountpoint" {
						got = append(got, l.GetValue())
					}
				}
			}
			require.ElementsMatch(t, tc.want, got)
			require.NoError(t, r.stop(t))
		})
	}
}
