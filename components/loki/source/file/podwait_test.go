package file

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// podDirs makes /<root>/default_<pod>_<uid>/app/0.log for each pod (name → uid) with one
// CRI line, "<pod>-0", and returns the glob matching them.
func podDirs(t *testing.T, root string, pods map[string]string) string {
	t.Helper()
	for name, uid := range pods {
		dir := filepath.Join(root, "default_"+name+"_"+uid, "app")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		appendFile(t, filepath.Join(dir, "0.log"), criLine(name+"-0"))
	}
	return filepath.Join(root, "*", "*", "*.log")
}

// startBubble starts the component inside a synctest bubble (fsnotify off: the poll finds
// new files) with pod_wait 30s.
func startBubble(t *testing.T, glob string, pods *fakePods) *harness {
	t.Helper()
	args := podArgs(glob)
	args.PodWait = model.Duration(30 * time.Second)
	return startWith(t, args, "", nil, pods.source(), func(c *Component) { c.pollOnly = true })
}

// settle lets d of fake time pass and waits for every goroutine to be idle.
func settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// byPod returns the entries by their pod label.
func byPod(es []pipeline.LogEntry) map[string][]model.LabelSet {
	out := map[string][]model.LabelSet{}
	for _, e := range es {
		out[string(e.Labels["pod"])] = append(out[string(e.Labels["pod"])], e.Labels)
	}
	return out
}

// TestPodWaitForInitialList: sonde (re)starts before the pod cache has listed the node's
// pods. No line is read until it has; then every line carries the pod labels, so a
// container's lines stay in one stream across restarts.
func TestPodWaitForInitialList(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		glob := podDirs(t, t.TempDir(), map[string]string{"web-1": "uid-1"})
		pods := newFakePods()
		pods.unsynced = true
		pods.pods["uid-1"] = [2]map[string]string{{"app": "web"}, nil}
		h := startBubble(t, glob, pods)

		settle(10 * time.Second)
		require.Empty(t, h.sink.Entries(), "nothing is read before the pod cache has listed the pods")
		require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.podWaiting))

		pods.sync()
		settle(time.Second)
		es := h.sink.Entries()
		require.Len(t, es, 1)
		require.Equal(t, model.LabelValue("web"), es[0].Labels["app"])
		require.Equal(t, 0.0, testutil.ToFloat64(h.c.metrics.podMissing))
		require.Equal(t, 0.0, testutil.ToFloat64(h.c.metrics.podWaiting))
	})
}

// TestPodWaitForPod: a file whose pod is not in the (listed) cache waits for it, while the
// other files are read; the pod's arrival lets it go at once, labelled.
func TestPodWaitForPod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		glob := podDirs(t, root, map[string]string{"web-1": "uid-1", "api-1": "uid-2"})
		pods := newFakePods()
		pods.set("uid-1", map[string]string{"app": "web"}, nil)
		h := startBubble(t, glob, pods)

		settle(5 * time.Second)
		got := byPod(h.sink.Entries())
		require.Len(t, got["web-1"], 1, "a file whose pod is known is not held up by another that waits")
		require.Empty(t, got["api-1"])
		require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.podWaiting))

		// A line written meanwhile waits too.
		appendFile(t, filepath.Join(root, "default_api-1_uid-2", "app", "0.log"), criLine("api-1-1"))
		pods.set("uid-2", map[string]string{"app": "api"}, nil)
		settle(500 * time.Millisecond) // less than podRecheck: the pod's arrival lets it go
		got = byPod(h.sink.Entries())
		require.Len(t, got["api-1"], 2)
		for _, ls := range got["api-1"] {
			require.Equal(t, model.LabelValue("api"), ls["app"])
		}
		require.Equal(t, 0.0, testutil.ToFloat64(h.c.metrics.podMissing))
	})
}

// TestPodWaitBounded: a pod that never shows up holds its file for pod_wait only; then the
// file is read without the pod's labels and counted. A cache that never lists the pods
// holds nothing longer than pod_wait either.
func TestPodWaitBounded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		unsynced bool
	}{{"pod missing", false}, {"cache never synced", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := t.TempDir()
				glob := podDirs(t, root, map[string]string{"gone-1": "uid-9"})
				pods := newFakePods()
				pods.unsynced = tc.unsynced
				h := startBubble(t, glob, pods)

				settle(29 * time.Second)
				require.Empty(t, h.sink.Entries())
				settle(2 * time.Second)
				es := h.sink.Entries()
				require.Len(t, es, 1)
				require.NotContains(t, es[0].Labels, model.LabelName("app"))
				require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.podMissing))
				require.Equal(t, 0.0, testutil.ToFloat64(h.c.metrics.podWaiting))

				// A pod appearing later: the new file waits for it (the cache has listed
				// the pods by then) or, with a cache that never listed them, is read at once.
				podDirs(t, root, map[string]string{"late-1": "uid-10"})
				settle(time.Second)
				if tc.unsynced {
					require.Len(t, byPod(h.sink.Entries())["late-1"], 1)
					require.Equal(t, 2.0, testutil.ToFloat64(h.c.metrics.podMissing))
					return
				}
				require.Empty(t, byPod(h.sink.Entries())["late-1"])
				pods.set("uid-10", map[string]string{"app": "late"}, nil)
				settle(time.Second)
				late := byPod(h.sink.Entries())["late-1"]
				require.Len(t, late, 1)
				require.Equal(t, model.LabelValue("late"), late[0]["app"])
				require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.podMissing))
			})
		})
	}
}

// TestPodWaitDeletedWhileHeld: a held file that goes away (its pod deleted) is drained as
// it is rather than kept until pod_wait ends.
func TestPodWaitDeletedWhileHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		glob := podDirs(t, root, map[string]string{"gone-1": "uid-9"})
		h := startBubble(t, glob, newFakePods())
		settle(time.Second)
		require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.podWaiting))

		require.NoError(t, os.RemoveAll(filepath.Join(root, "default_gone-1_uid-9")))
		settle(2 * time.Second)
		require.Len(t, h.sink.Entries(), 1, "the deleted file's lines are still sent")
		require.Equal(t, 0.0, testutil.ToFloat64(h.c.metrics.podWaiting))
		require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.podMissing))
	})
}
