// Package backendtest runs the real backends the tests deliver to (Loki, Tempo, Jaeger,
// Prometheus) and the sonde binary itself: finding a binary that `make deps` cached or
// installed, a file of this repository, free ports, one process at a time (start, wait until
// ready, signal, stop or kill, its output and exit status), and HTTP requests read whole
// (Get, Do, DoResponse; Fetch and FetchJSON fail the test when no answer comes). The
// per-backend harnesses (lokitest, oteltest, kubetest) add their configuration and query APIs.
package backendtest

import (
	"bytes"
	"context"
	"encoding/json"
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

// Installed returns $envVar, else the path of name on PATH (a Debian package that `make deps`
// installs). A missing one fails the test, naming `make deps`. Callers that need it only
// outside the fast tier call SkipShort first.
func Installed(t testing.TB, name, envVar string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run `make deps` (or set %s)", name, envVar)
	}
	return p
}

// RepoFile returns the path of rel (slash-separated) in this repository.
func RepoFile(t testing.TB, rel string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// repoRoot is the directory of this repository's go.mod.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the backendtest package source")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s", file)
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return ports[0]
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago (each is
// held until all are found, so none comes twice). For code that has no testing.TB to fail.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
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
		// A port taken meanwhile; or, for sonde, picked twice: the kernel may hand a port a
		// test chose for a listener in sonde's config out again before sonde binds it, which
		// sonde's validation refuses ("both listen on port").
		out := p.Output()
		if attempt == 3 || !(strings.Contains(out, "address already in use") || strings.Contains(out, "both listen on port")) {
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

// Process is one run after another of a backend binary (or of sonde), its output kept across
// runs.
type Process struct {
	Name string // for messages: "Loki", "Tempo", "Jaeger"
	// ReadyTimeout is how long Start waits for ready: two minutes when 0.
	ReadyTimeout time.Duration

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	logs    *bytes.Buffer
}

// Start runs bin with args and env added to this process's environment, then waits until
// ready returns true (WaitReady, for ReadyTimeout).
func (p *Process) Start(bin string, args, env []string, ready func() bool) error {
	p.mu.Lock()
	if p.logs == nil {
		p.logs = &bytes.Buffer{}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	w := &lockedWriter{mu: &p.mu, b: p.logs}
	cmd.Stdout, cmd.Stderr = w, w
	// A test process that is killed (a CI timeout, ^C) takes its backends with it; in a
	// process group of their own, a ^C at the terminal does not race the test's own stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	timeout := p.ReadyTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	return p.WaitReady(ready, timeout)
}

// WaitReady polls ready every 100 ms until it returns true; it is an error when the process
// exits first or timeout passes.
func (p *Process) WaitReady(ready func() bool, timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			p.mu.Lock()
			if p.done == done {
				p.cmd = nil
			}
			status := "exit status 0"
			if p.exitErr != nil {
				status = p.exitErr.Error()
			}
			p.mu.Unlock()
			return fmt.Errorf("%s exited while starting (%s)", p.Name, status)
		default:
		}
		if ready() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", p.Name, timeout)
}

// StopAtEnd has stop (p.Kill, or a Stop with its grace) run when the test ends, followed,
// if the test failed, by a log of what the process printed.
func (p *Process) StopAtEnd(t testing.TB, stop func()) {
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", p.Name, p.Output())
		}
	})
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

// Signal sends sig (SIGHUP, say) to the running process without waiting for anything.
func (p *Process) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return fmt.Errorf("%s is not running", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// ExitErr is how the last run that ended ended: nil for exit status 0 (or when none has
// ended), else an *exec.ExitError.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
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
	return Do(req)
}

// Do sends req (one with headers, or a POST) with http.DefaultClient and returns the status
// code and the whole body.
func Do(req *http.Request) (int, []byte, error) {
	resp, body, err := DoResponse(req)
	if resp == nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, err
}

// DoResponse is Do for a caller that looks at the answer's header too: it returns the
// response (its body closed) and the whole body; a nil response when none came.
func DoResponse(req *http.Request) (*http.Response, []byte, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// Fetch sends a request with method and no body to url and returns the status code and the
// whole body, failing the test when no answer comes.
func Fetch(t testing.TB, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	code, body, err := Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return code, string(body)
}

// FetchJSON decodes the JSON answer to a GET of url, which must be 200 OK, into v, failing
// the test otherwise.
func FetchJSON(t testing.TB, url string, v any) {
	t.Helper()
	code, body := Fetch(t, http.MethodGet, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %.300s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: decode %.300s: %v", url, body, err)
	}
}
