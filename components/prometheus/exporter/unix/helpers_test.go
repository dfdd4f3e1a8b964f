package unix

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// fixtureRoot is the shared host tree (see testdata/host/README.md).
func fixtureRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../../../../testdata/host")
	require.NoError(t, err)
	return root
}

// goldenCollectors are the collectors the golden test runs: every one of them finds its
// files in the fixture tree.
var goldenCollectors = []string{
	"conntrack", "cpu", "diskstats", "entropy", "filefd", "filesystem", "loadavg", "meminfo",
	"netclass", "netdev", "netstat", "os", "pressure", "schedstat", "sockstat", "softnet",
	"stat", "time", "uname", "vmstat",
}

// fixtureArgs returns arguments that read everything from the tree at root.
func fixtureArgs(root string, collectors ...string) *Arguments {
	a := DefaultArguments()
	if len(collectors) > 0 {
		a.Collectors = collectors
	}
	a.ProcfsPath = filepath.Join(root, "proc")
	a.SysfsPath = filepath.Join(root, "sys")
	a.RootfsPath = root
	a.UdevDataPath = filepath.Join(root, "udev", "data")
	// node_exporter reads interface counters over netlink by default, from the test
	// process's own network namespace; the fixture has them in proc/net/dev.
	a.Netdev.Netlink = false
	return a
}

// running is a started component.
type running struct {
	c      *Component
	host   *pipelinetest.Host
	cancel context.CancelFunc
	done   chan error // receives Run's result
}

// start builds and runs a component, which is stopped when the test ends.
func start(t testing.TB, id string, a *Arguments) *running {
	t.Helper()
	require.NoError(t, a.Validate())
	host := pipelinetest.NewHost()
	c, err := New(pipelinetest.Options(t, id, host), a)
	require.NoError(t, err)
	host.Export(id, c)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, host: host, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(defaultWait):
			t.Error("Run did not return after cancellation")
		}
	})
	return r
}

// stop cancels Run and returns its result.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	return r.result(t)
}

// result waits for Run to return (on its own or after stop) and returns its error.
func (r *running) result(t testing.TB) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // keep it for the cleanup
		return err
	case <-time.After(defaultWait):
		t.Fatal("Run did not return")
		return nil
	}
}

const (
	defaultWait = 20 * time.Second
	pollEvery   = 5 * time.Millisecond
)

// waitServing waits until the component serves its exposition and returns it.
func (r *running) waitServing(t testing.TB) string {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		code, b := r.get(t)
		body = b
		return code == http.StatusOK
	}, defaultWait, pollEvery)
	return body
}

// get fetches the exposition once.
func (r *running) get(t testing.TB) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r.c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, string(b)
}

// httptestGet serves one GET of path (as the handler sees it, prefix stripped) and returns
// the status code.
func httptestGet(h http.Handler, path string) int {
	req := httptest.NewRequest(http.MethodGet, "http://x/", nil)
	req.URL.Path = path
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// copyTree copies the fixture tree into a temporary directory.
func copyTree(t testing.TB, root string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, os.CopyFS(dst, os.DirFS(root)))
	return dst
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}
