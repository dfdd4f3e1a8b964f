// Package backendtest runs the real backends the tests deliver to (Loki, Tempo, Jaeger):
// finding a binary that `make deps` cached, a file of this repository, free ports, and one
// backend process at a time (start, wait until ready, stop or kill, its output). The
// per-backend harnesses (lokitest, oteltest) add their configuration and query APIs.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary returns the path of a backend binary: $envVar, else
// ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/<name>-<version>. A missing binary fails the test,
// naming the make target that builds it: the real backend is part of the test suite, not
// optional.
func Binary(t testing.TB, display, envVar, name, version, makeTarget string) string {
	t.Helper()
	path := os.Getenv(envVar)
	if path == "" {
		cache := os.Getenv("SONDE_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatalf("no home directory to find the %s binary in (set %s): %v", display, envVar, err)
			}
			cache = filepath.Join(home, ".cache", "sonde")
		}
		path = filepath.Join(cache, "bin", name+"-"+version)
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		t.Fatalf("%s binary %s not found: run %s (or set %s)", display, path, makeTarget, envVar)
	}
	return path
}

// RepoFile returns the path of rel (slash-separated) in this repository.
func RepoFile(t testing.TB, rel string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the backendtest package source")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(rel))
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod above %s", file)
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns "127.0.0.1:<port>" for a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(FreePort(t))
}

// WaitListening waits until something accepts TCP connections on addr, failing the test
// after 30 seconds.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s after 30s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StartOnFreePorts calls pick (which chooses free ports) then start until start succeeds.
// Free ports are found by binding and closing; on a busy machine another process may take
// one meanwhile, so a start that fails on a taken port tries new ones (three times).
func StartOnFreePorts(t testing.TB, p *Process, pick func(), start func() error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		pick()
		err := start()
		if err == nil {
			return
		}
		if attempt == 3 || !strings.Contains(p.Output(), "address already in use") {
			t.Fatalf("%v:\n%s", err, p.Output())
		}
		p.ResetOutput()
	}
}

// HTTPOK returns a readiness check: GET url answers 200.
func HTTPOK(url string) func() bool {
	return func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// Process is one run after another of a backend binary, its output kept across runs.
type Process struct {
	Name string // for messages: "Loki", "Tempo", "Jaeger"

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *bytes.Buffer
}

// Start runs bin with args and env added to this process's environment, then polls ready
// every 100 ms until it returns true (two minutes at most).
func (p *Process) Start(bin string, args, env []string, ready func() bool) error {
	p.mu.Lock()
	if p.logs == nil {
		p.logs = &bytes.Buffer{}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	w := &lockedWriter{mu: &p.mu, b: p.logs}
	cmd.Stdout, cmd.Stderr = w, w
	// A test process that is killed (a CI timeout, ^C) takes its backends with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			p.mu.Lock()
			p.cmd = nil
			p.mu.Unlock()
			return errors.New(p.Name + " exited while starting")
		default:
		}
		if ready() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New(p.Name + " not ready after 2 minutes")
}

// Stop sends SIGTERM, then SIGKILL after grace. Stopping twice is fine.
func (p *Process) Stop(grace time.Duration) { p.signal(syscall.SIGTERM, grace) }

// Kill stops the process with SIGKILL, as a crash would.
func (p *Process) Kill() { p.signal(syscall.SIGKILL, 0) }

func (p *Process) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// PID is the running process's id, 0 when stopped.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Output returns what the process printed, over all its runs.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs == nil {
		return ""
	}
	return p.logs.String()
}

// ResetOutput forgets what the process printed so far.
func (p *Process) ResetOutput() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs != nil {
		p.logs.Reset()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Get does a GET of url and returns the status code and the whole body.
func Get(ctx context.Context, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}
