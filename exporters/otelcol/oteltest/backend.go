package oteltest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// What the Tempo and Jaeger harnesses share: finding a cached backend binary and a file of
// this repository, free ports, and running one backend process (start, wait until ready,
// stop, its output).

// backendBinary returns the path of a backend binary: $envVar, else
// ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/<name>-<version>. A missing binary fails the test,
// naming the make target that builds it: the real backend is part of the test suite, not
// optional.
func backendBinary(t testing.TB, display, envVar, name, version, makeTarget string) string {
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

// repoFile returns the path of rel (slash-separated) in this repository.
func repoFile(t testing.TB, rel string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the oteltest package source")
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

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startOnFreePorts calls pick (which chooses free ports) then start until start succeeds.
// Free ports are found by binding and closing; on a busy machine another process may take
// one meanwhile, so a start that fails on a taken port tries new ones (three times).
func startOnFreePorts(t testing.TB, p *process, pick func(), start func() error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		pick()
		err := start()
		if err == nil {
			return
		}
		if attempt == 3 || !strings.Contains(p.output(), "address already in use") {
			t.Fatalf("%v:\n%s", err, p.output())
		}
		p.resetOutput()
	}
}

// process is one run after another of a backend binary, its output kept across runs.
type process struct {
	name string // for messages: "Tempo", "Jaeger"

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *bytes.Buffer
}

// start runs bin with args and env added to this process's environment, then polls ready
// every 100 ms until it returns true (two minutes at most).
func (p *process) start(bin string, args, env []string, ready func() bool) error {
	p.mu.Lock()
	if p.logs == nil {
		p.logs = &bytes.Buffer{}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	w := &lockedWriter{mu: &p.mu, b: p.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.name, err)
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
			return errors.New(p.name + " exited while starting")
		default:
		}
		if ready() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New(p.name + " not ready after 2 minutes")
}

// stop sends SIGTERM, then SIGKILL after grace. Stopping twice is fine.
func (p *process) stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// pid is the running process's id, 0 when stopped.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs == nil {
		return ""
	}
	return p.logs.String()
}

func (p *process) resetOutput() {
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
