package backendtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProcess(t *testing.T) {
	p := &Process{Name: "shell"}
	err := p.Start("/bin/sh", []string{"-c", `echo "up $GREETING"; exec sleep 60`}, []string{"GREETING=hello"},
		func() bool { return strings.Contains(p.Output(), "up hello") })
	require.NoError(t, err)
	require.NotZero(t, p.PID())
	p.Stop(5 * time.Second)
	require.Zero(t, p.PID())
	p.Stop(time.Second) // twice is fine

	// Output is kept across runs; a process that exits before it is ready is an error.
	err = p.Start("/bin/sh", []string{"-c", "echo gone; exit 3"}, nil, func() bool { return false })
	require.ErrorContains(t, err, "shell exited while starting")
	require.Contains(t, p.Output(), "up hello\ngone\n")
	p.ResetOutput()
	require.Empty(t, p.Output())

	require.NoError(t, p.Start("/bin/sh", []string{"-c", "exec sleep 60"}, nil, func() bool { return true }))
	p.Kill()
	require.Zero(t, p.PID())
	require.ErrorContains(t, p.ExitErr(), "signal: killed")
	require.ErrorContains(t, p.Signal(syscall.SIGHUP), "shell is not running")

	// A signal that does not stop it, then a clean exit on SIGTERM: exit status 0. USR1, not
	// HUP: under nohup (a CI launcher) HUP is ignored from the start, and a shell cannot trap
	// a signal ignored on entry.
	require.NoError(t, p.Start("/bin/sh", []string{"-c", `trap 'echo usr1' USR1; trap 'exit 0' TERM; echo up; while :; do sleep 0.05; done`}, nil,
		func() bool { return strings.Contains(p.Output(), "up") }))
	require.NoError(t, p.Signal(syscall.SIGUSR1))
	require.NoError(t, p.WaitReady(func() bool { return strings.Contains(p.Output(), "usr1") }, 10*time.Second))
	p.Stop(10 * time.Second)
	require.NoError(t, p.ExitErr())

	// ReadyTimeout bounds Start; a process that exits says how.
	p.ReadyTimeout = 300 * time.Millisecond
	require.ErrorContains(t, p.Start("/bin/sh", []string{"-c", "exec sleep 60"}, nil, func() bool { return false }),
		"shell not ready after 300ms")
	p.Kill()
	require.ErrorContains(t, p.Start("/bin/sh", []string{"-c", "exit 3"}, nil, func() bool { return false }),
		"shell exited while starting (exit status 3)")
}

func TestGetAndDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + " " + r.Header.Get("Accept")))
	}))
	defer srv.Close()
	code, body, err := Get(context.Background(), srv.URL+"/a")
	require.NoError(t, err)
	require.Equal(t, http.StatusTeapot, code)
	require.Equal(t, "GET /a ", string(body))
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/b", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/plain")
	code, body, err = Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusTeapot, code)
	require.Equal(t, "POST /b text/plain", string(body))

	resp, body, err := DoResponse(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusTeapot, resp.StatusCode)
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, "POST /b text/plain", string(body))

	code, _, err = Get(context.Background(), "http://"+FreeAddr(t)+"/")
	require.Error(t, err, "nothing listens there")
	require.Zero(t, code)
}

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json" {
			_, _ = w.Write([]byte(`{"method": "` + r.Method + `"}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path))
	}))
	defer srv.Close()
	code, body := Fetch(t, http.MethodPost, srv.URL+"/a")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, "POST /a", body)

	var v struct{ Method string }
	FetchJSON(t, srv.URL+"/json", &v)
	require.Equal(t, http.MethodGet, v.Method)
}

func TestFreePortsAndInstalled(t *testing.T) {
	ports, err := FreePorts(20)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p], "port %d twice", p)
		seen[p] = true
	}
	require.Len(t, seen, 20)

	t.Setenv("SONDE_TEST_SH", "/some/sh")
	require.Equal(t, "/some/sh", Installed(t, "sh", "SONDE_TEST_SH"))
	t.Setenv("SONDE_TEST_SH", "")
	require.True(t, filepath.IsAbs(Installed(t, "sh", "SONDE_TEST_SH")))
}

func TestSeriesFloats(t *testing.T) {
	v, err := Series{Values: [][2]any{{1.0, "1"}, {2.0, "2.5"}, {3.0, "NaN"}}}.Floats()
	require.NoError(t, err)
	require.Len(t, v, 3)
	require.Equal(t, []float64{1, 2.5}, v[:2])
	_, err = Series{Values: [][2]any{{1.0, "x"}}}.Floats()
	require.Error(t, err)
}

func TestHTTPOK(t *testing.T) {
	code := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
	defer srv.Close()
	ready := HTTPOK(srv.URL)
	require.False(t, ready())
	code = http.StatusOK
	require.True(t, ready())
	require.False(t, HTTPOK("http://127.0.0.1:1/")())
}

func TestRepoFileAndFreePort(t *testing.T) {
	_, err := os.Stat(RepoFile(t, "testdata/backends/loki.yaml"))
	require.NoError(t, err)
	require.NotZero(t, FreePort(t))
}

func TestWaitListening(t *testing.T) {
	addr := FreeAddr(t)
	require.True(t, strings.HasPrefix(addr, "127.0.0.1:"), addr)
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	defer ln.Close()
	WaitListening(t, addr)
}

// TestPrometheus3Version: the Prometheus 3 the tests run is the one go.mod requires, which
// `make deps-prometheus3` builds.
func TestPrometheus3Version(t *testing.T) {
	b, err := os.ReadFile(RepoFile(t, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(b), "\tgithub.com/prometheus/prometheus "+Prometheus3Version+"\n")
}
