package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// The end-to-end tests run the real sonde binary against real backends on 127.0.0.1.
// Backends are installed by `make deps`; a missing one fails the test (never a skip).

var (
	buildOnce sync.Once
	sondeBin  string
	buildErr  error
)

// sondeBinary builds cmd/sonde once per test process.
func sondeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sonde-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		sondeBin = filepath.Join(dir, "sonde")
		out, err := exec.Command("go", "build", "-o", sondeBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return sondeBin
}

// backendBinary finds a backend installed by `make deps`, or fails with what to run.
func backendBinary(t *testing.T, name, envVar string) string {
	t.Helper()
	backendtest.SkipShort(t, name)
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	require.NoError(t, err, "%s is not installed: run `make deps` (or set %s)", name, envVar)
	return p
}

// process is a child process whose output goes to a file shown when the test fails.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "start %s", name)
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- %s log (last 6000 bytes) ----\n%s", name, tail(b, 6000))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// stop signals the process and waits for it to exit.
func (p *process) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(90 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func waitHTTP(t *testing.T, p *process, u string, timeout time.Duration) {
	t.Helper()
	ok := backendtest.HTTPOK(u)
	require.Eventually(t, func() bool {
		require.False(t, p.exited(), "%s exited early: %v", p.name, p.err)
		return ok()
	}, timeout, 100*time.Millisecond, "%s not ready at %s", p.name, u)
}

// rawValues returns every raw sample value of the one series matching selector within the
// last window, in time order.
func rawValues(t *testing.T, prom *backendtest.Prometheus, selector, window string) []float64 {
	t.Helper()
	res, err := prom.Query(context.Background(), selector+"["+window+"]")
	require.NoError(t, err)
	if len(res) == 0 {
		return nil
	}
	require.Len(t, res, 1, "want one series for %s", selector)
	var out []float64
	for _, v := range res[0].Values {
		var f float64
		_, err := fmt.Sscan(v[1].(string), &f)
		require.NoError(t, err)
		out = append(out, f)
	}
	return out
}

// sonde is a sonde process.
type sonde struct {
	t       *testing.T
	port    int
	storage string
	args    []string
	proc    *process
}

func newSonde(t *testing.T, args ...string) *sonde {
	t.Helper()
	s := &sonde{t: t, port: backendtest.FreePort(t), storage: t.TempDir(), args: args}
	s.start()
	return s
}

func (s *sonde) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

func (s *sonde) start() {
	args := append([]string{"run",
		fmt.Sprintf("--server.listen=127.0.0.1:%d", s.port),
		"--storage.path=" + s.storage,
	}, s.args...)
	s.proc = startProcess(s.t, "sonde", sondeBinary(s.t), args...)
	waitHTTP(s.t, s.proc, s.URL()+"/-/healthy", 60*time.Second)
}

// metric returns the value of one of sonde's own metrics (summed over matching series).
func (s *sonde) metric(t *testing.T, name string, match ...string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		_, err := fmt.Sscan(fields[len(fields)-1], &v)
		require.NoError(t, err, line)
		sum += v
	}
	return sum
}

// counterTarget is an exposition endpoint whose one counter counts the scrapes it served:
// every value 1..N must reach Prometheus, so a missing sample shows as a gap.
type counterTarget struct {
	mu     sync.Mutex
	served int
	srv    *http.Server
	addr   string
}

func newCounterTarget(t *testing.T) *counterTarget {
	t.Helper()
	ct := &counterTarget{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ct.addr = ln.Addr().String()
	ct.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct.mu.Lock()
		ct.served++
		n := ct.served
		ct.mu.Unlock()
		fmt.Fprintf(w, "# TYPE e2e_scrapes_total counter\ne2e_scrapes_total %d\n", n)
	})}
	go func() { _ = ct.srv.Serve(ln) }()
	t.Cleanup(func() { _ = ct.srv.Shutdown(context.Background()) })
	return ct
}

func (ct *counterTarget) count() int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.served
}

// writeConfig writes a sonde config file and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sonde.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o644))
	return p
}
