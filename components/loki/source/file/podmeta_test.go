package file

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// fakePods is a podLookup over a map of uid to labels and annotations. While unsynced (the
// initial list not in yet), no pod is found.
type fakePods struct {
	mu       sync.Mutex
	pods     map[string][2]map[string]string
	unsynced bool
	added    func()
}

func newFakePods() *fakePods { return &fakePods{pods: map[string][2]map[string]string{}} }

func (f *fakePods) Pod(uid string) (map[string]string, map[string]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unsynced {
		return nil, nil, false
	}
	p, ok := f.pods[uid]
	return p[0], p[1], ok
}

func (f *fakePods) Synced() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.unsynced
}

// set adds or replaces a pod, and tells the component as the informer does.
func (f *fakePods) set(uid string, labels, annotations map[string]string) {
	f.mu.Lock()
	f.pods[uid] = [2]map[string]string{labels, annotations}
	added := f.added
	f.mu.Unlock()
	if added != nil {
		added()
	}
}

// sync ends the initial list, telling the component as the informer does (once per pod).
func (f *fakePods) sync() {
	f.mu.Lock()
	f.unsynced = false
	added, n := f.added, len(f.pods)
	f.mu.Unlock()
	for range n {
		if added != nil {
			added()
		}
	}
}

func (f *fakePods) source() podSource {
	return func(_ *Arguments, added func()) (podLookup, func(), error) {
		f.mu.Lock()
		f.added = added
		f.mu.Unlock()
		return f, func() {}, nil
	}
}

func podArgs(paths ...string) *Arguments {
	a := testArgs(paths...)
	a.PathLabels = PathLabelsKubernetes
	a.PodLabels = []string{"app", "app.kubernetes.io/name"}
	a.PodAnnotations = []string{"team.example/owner"}
	a.Node = "node-1"
	return a
}

func TestSanitizeLabelName(t *testing.T) {
	for in, want := range map[string]string{
		"app":                    "app",
		"app.kubernetes.io/name": "app_kubernetes_io_name",
		"team.example/owner":     "team_example_owner",
		"1x":                     "_1x",
	} {
		t.Run(in, func(t *testing.T) { require.Equal(t, want, sanitizeLabelName(in)) })
	}
}

func TestPodMetadataValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(a *Arguments)
		err  string
	}{
		{"ok", func(*Arguments) {}, ""},
		{"no node", func(a *Arguments) { a.Node = "" }, "node"},
		{"bad node", func(a *Arguments) { a.Node = "Node_1" }, "node"},
		{"path labels none", func(a *Arguments) { a.PathLabels = PathLabelsNone }, "path_labels"},
		{"empty entry", func(a *Arguments) { a.PodLabels = []string{""} }, "pod_labels"},
		{"reserved", func(a *Arguments) { a.PodAnnotations = []string{"__x"} }, "pod_annotations"},
		{"negative pod wait", func(a *Arguments) { a.PodWait = -1 }, "pod_wait"},
		{"no pod wait", func(a *Arguments) { a.PodWait = 0 }, ""},
		{"unused without pod metadata", func(a *Arguments) { a.PodLabels, a.PodAnnotations, a.Node = nil, nil, "" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := podArgs("/x/*.log")
			tc.mod(a)
			err := a.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestPodMetadata(t *testing.T) {
	root := t.TempDir()
	known := filepath.Join(root, "default_web-1_uid-1", "nginx")
	later := filepath.Join(root, "default_web-2_uid-2", "nginx")
	for _, d := range []string{known, later} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	appendFile(t, filepath.Join(known, "0.log"), criLine("a"))
	appendFile(t, filepath.Join(later, "0.log"), criLine("b"))

	pods := newFakePods()
	pods.set("uid-1", map[string]string{"app": "web", "app.kubernetes.io/name": "nginx", "other": "x", "pod": "not-this"},
		map[string]string{"team.example/owner": "payments"})
	args := podArgs(filepath.Join(root, "*", "*", "*.log"))
	args.PodWait = 0 // read at once without the pod (podwait_test.go tests the wait)
	h := startWith(t, args, "", nil, pods.source())
	waitLines(t, h.sink, 2)

	byLine := map[string]model.LabelSet{}
	for _, e := range h.sink.Entries() {
		byLine[e.Line] = e.Labels
	}
	require.Equal(t, model.LabelSet{
		"namespace": "default", "pod": "web-1", "container": "nginx", "job": "default/web-1", "stream": "stdout",
		"app": "web", "app_kubernetes_io_name": "nginx", "team_example_owner": "payments",
	}, byLine["a"])
	// Not in the cache: tailed without pod metadata, counted.
	require.Equal(t, model.LabelSet{
		"namespace": "default", "pod": "web-2", "container": "nginx", "job": "default/web-2", "stream": "stdout",
	}, byLine["b"])
	require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.podMissing))

	// Once the pod appears, the next reconcile labels the file's further lines.
	pods.set("uid-2", map[string]string{"app": "api"}, nil)
	appendFile(t, filepath.Join(later, "0.log"), criLine("c"))
	h.c.rescan()
	require.Eventually(t, func() bool {
		for _, e := range h.sink.Entries() {
			if e.Labels["app"] == "api" {
				return true
			}
		}
		appendFile(t, filepath.Join(later, "0.log"), criLine("c"))
		h.c.rescan()
		return false
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.podMissing), "a missing pod is counted once per file")
}

func BenchmarkPodExtra(b *testing.B) {
	pods := newFakePods()
	pods.set("uid-1", map[string]string{"app": "web", "app.kubernetes.io/name": "nginx"}, map[string]string{"team.example/owner": "payments"})
	s := newSettings(podArgs("/x/*.log"))
	b.ReportAllocs()
	for b.Loop() {
		if _, st := podExtra(pods, "uid-1", s); st != podFound {
			b.Fatal("not found")
		}
	}
}
