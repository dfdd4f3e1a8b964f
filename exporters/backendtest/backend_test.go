package backendtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
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
