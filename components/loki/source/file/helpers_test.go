package file

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// testArgs returns valid arguments tailing paths, with intervals short enough for tests.
func testArgs(paths ...string) *Arguments {
	a := DefaultArguments()
	a.Paths = paths
	a.ForwardTo = []string{"loki.write/test"}
	a.PollInterval = model.Duration(200 * time.Millisecond)
	a.SyncPeriod = model.Duration(20 * time.Millisecond)
	a.BatchWait = model.Duration(10 * time.Millisecond)
	return a
}

// harness runs one component against a fake host and a recording sink.
type harness struct {
	t      *testing.T
	c      *Component
	host   *pipelinetest.Host
	sink   *pipelinetest.LogsSink
	opts   pipeline.Options
	cancel context.CancelFunc
	done   chan error
}

// start runs a component; dataPath, when not empty, replaces the data directory (to run
// a second component where a first one stopped). receiver, when not nil, replaces the sink.
func start(t *testing.T, args *Arguments, dataPath string, receiver pipeline.LogsReceiver) *harness {
	t.Helper()
	return startWith(t, args, dataPath, receiver, nil)
}

// startWith is start with a pod source replacing the real pod cache (nil: the real one);
// setup runs on the component before Run.
func startWith(t *testing.T, args *Arguments, dataPath string, receiver pipeline.LogsReceiver, pods podSource, setup ...func(*Component)) *harness {
	t.Helper()
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(t, "loki.source.file/test", host)
	if dataPath != "" {
		opts.DataPath = dataPath
	}
	var fake *fakeHost
	if receiver != nil {
		fake = &fakeHost{Host: host, logs: receiver}
		opts.Host = fake
	}
	c, err := New(opts, args)
	require.NoError(t, err)
	if pods != nil {
		c.pods.open = pods
	}
	c.flushTimeout = 2 * time.Second // a sink holding its acknowledgements does not hold every stop for 15 s
	for _, f := range setup {
		f(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, c: c, host: host, sink: host.LogsSink, opts: opts, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- c.Run(ctx) }()
	t.Cleanup(h.stop)
	// Run has set everything up once the first reconcile is done and health is reported.
	require.Eventually(t, func() bool { return opts.Health.Get().State == pipeline.HealthHealthy },
		10*time.Second, time.Millisecond)
	return h
}

// stop cancels the component and waits for Run; safe to call twice.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		require.NoError(h.t, err)
	case <-time.After(30 * time.Second):
		h.t.Fatal("Run did not return")
	}
}

// fakeHost is the test host with another logs receiver.
type fakeHost struct {
	*pipelinetest.Host
	logs pipeline.LogsReceiver
}

func (f *fakeHost) Logs([]string) pipeline.LogsReceiver { return f.logs }

// waitLines waits until the sink holds at least n entries and returns their lines.
func waitLines(t *testing.T, sink *pipelinetest.LogsSink, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(sink.Entries()) >= n }, 30*time.Second, 5*time.Millisecond,
		"waiting for %d entries", n)
	return lineSet(sink.Entries())
}

func lineSet(es []pipeline.LogEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Line
	}
	return out
}

// criLine is a CRI line whose message is msg.
func criLine(msg string) string {
	return time.Now().UTC().Format(time.RFC3339Nano) + " stdout F " + msg + "\n"
}

// appendFile appends text to path, creating it.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// writeLines appends CRI lines prefix-<from> … prefix-<to-1> to path.
func writeLines(t *testing.T, path, prefix string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(criLine(fmt.Sprintf("%s-%06d", prefix, i)))
	}
	appendFile(t, path, b.String())
}

// expectLines returns prefix-<from> … prefix-<to-1>.
func expectLines(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%06d", prefix, i))
	}
	return out
}

// requireExactlyOnce checks that got holds every line of want exactly once, and nothing else.
func requireExactlyOnce(t *testing.T, want, got []string) {
	t.Helper()
	counts := map[string]int{}
	for _, l := range got {
		counts[l]++
	}
	var missing, dup []string
	for _, l := range want {
		switch counts[l] {
		case 0:
			missing = append(missing, l)
		case 1:
		default:
			dup = append(dup, l)
		}
		delete(counts, l)
	}
	sort.Strings(missing)
	sort.Strings(dup)
	require.Empty(t, missing, "%d lines missing", len(missing))
	require.Empty(t, dup, "%d lines delivered more than once", len(dup))
	require.Empty(t, counts, "unexpected lines")
}

// readPositions returns the offsets in the component's positions file by path.
func readPositions(t *testing.T, dataPath string) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataPath, positionsFile))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	out := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		var path string
		var off int64
		if i := strings.Index(l, `"path":"`); i >= 0 {
			path = l[i+8:]
			path = path[:strings.Index(path, `"`)]
		}
		if i := strings.Index(l, `"offset":`); i >= 0 {
			_, _ = fmt.Sscanf(l[i+9:], "%d", &off)
		}
		if path != "" {
			out[path] = off
		}
	}
	return out
}

// openFDs counts this process's descriptors open on files under dir.
func openFDs(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir) {
			n++
		}
	}
	return n
}

// copyTree copies the directory src to dst, keeping symbolic links.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, out)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		}
	}))
}
