package file

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	config_util "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sondehq/sonde/discovery/kubetest"
)

// TestPodMetadataAPIServer runs the component against a real API server: a pod created
// with labels on the agent's node has them on the lines of its log file.
func TestPodMetadataAPIServer(t *testing.T) {
	s := kubetest.Start(t)
	s.CreateNamespace(t, "shop")
	pod := s.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   "shop",
			Name:        "web-1",
			Labels:      map[string]string{"app": "web", "app.kubernetes.io/name": "nginx", "unselected": "x"},
			Annotations: map[string]string{"team.example/owner": "payments"},
		},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "nginx"}}},
	}, nil)

	root := t.TempDir()
	dir := filepath.Join(root, "shop_web-1_"+string(pod.UID), "nginx")
	require.NoError(t, os.MkdirAll(dir, 0o755))

	u, err := url.Parse(s.URL)
	require.NoError(t, err)
	args := podArgs(filepath.Join(root, "*", "*", "*.log"))
	args.APIServer = config_util.URL{URL: u}
	args.HTTPClientConfig.BearerToken = config_util.Secret(kubetest.AdminToken)
	args.HTTPClientConfig.TLSConfig.CAFile = s.CAFile
	require.NoError(t, args.Validate())

	// The informer has not listed the pod yet when the file is first seen: the file waits
	// for it (pod_wait), so that even the first line carries the pod's labels.
	path := filepath.Join(dir, "0.log")
	appendFile(t, path, criLine("hello"))
	h := start(t, args, "", nil)
	waitLines(t, h.sink, 1)
	e := h.sink.Entries()[0]
	require.Equal(t, "web", string(e.Labels["app"]))
	require.Equal(t, "nginx", string(e.Labels["app_kubernetes_io_name"]))
	require.Equal(t, "payments", string(e.Labels["team_example_owner"]))
	require.Equal(t, "web-1", string(e.Labels["pod"]))
	require.NotContains(t, e.Labels, "unselected")
	require.Equal(t, 0.0, testutil.ToFloat64(h.c.metrics.podMissing))
}
