package oteltest

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

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TempoVersion is the Tempo the tests run against (2.9.0, as a Go pseudo-version), built
// by `make deps` with testdata/backends/tempo.sh.
const TempoVersion = "v1.5.1-0.20251008140505-607c7fb69662"

// TempoBinary returns the path of the Tempo binary: $SONDE_TEMPO_BIN, else
// ${SONDE_CACHE:-$HOME/.cache/sonde}/bin/tempo-<TempoVersion>. A missing binary fails the
// test: the real backend is part of the test suite, not optional.
func TempoBinary(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SONDE_TEMPO_BIN")
	if path == "" {
		cache := os.Getenv("SONDE_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatalf("no home directory to find the Tempo binary in (set SONDE_TEMPO_BIN): %v", err)
			}
			cache = filepath.Join(home, ".cache", "sonde")
		}
		path = filepath.Join(cache, "bin", "tempo-"+TempoVersion)
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		t.Fatalf("Tempo binary %s not found: run make deps (or set SONDE_TEMPO_BIN)", path)
	}
	return path
}

// tempoConfig returns the path of testdata/backends/tempo.yaml in this repository.
func tempoConfig(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the oteltest package source")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "backends", "tempo.yaml")
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod above %s", file)
		}
	}
}

// Tempo is a Tempo process started for a test, listening on 127.0.0.1 only, with its data
// in a temporary directory that survives Restart.
type Tempo struct {
	t      testing.TB
	bin    string
	config string
	Dir    string
	// Ports: the query API (HTTP), Tempo's own gRPC, OTLP/gRPC and OTLP/HTTP ingestion,
	// and memberlist.
	HTTPPort, GRPCPort, OTLPGRPCPort, OTLPHTTPPort, MemberlistPort int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *bytes.Buffer
}

// StartTempo starts Tempo and waits until it is ready; it is stopped when the test ends.
func StartTempo(t testing.TB) *Tempo {
	t.Helper()
	tp := &Tempo{t: t, bin: TempoBinary(t), config: tempoConfig(t), Dir: t.TempDir()}
	// Free ports are found by binding and closing; on a busy machine another process may
	// take one meanwhile, so a start that fails on a taken port tries new ones.
	for attempt := 1; ; attempt++ {
		tp.HTTPPort, tp.GRPCPort, tp.OTLPGRPCPort = freePort(t), freePort(t), freePort(t)
		tp.OTLPHTTPPort, tp.MemberlistPort = freePort(t), freePort(t)
		err := tp.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(tp.Output(), "address already in use") {
			t.Fatalf("%v:\n%s", err, tp.Output())
		}
		tp.mu.Lock()
		tp.logs.Reset()
		tp.mu.Unlock()
	}
	t.Cleanup(func() {
		tp.Stop()
		if t.Failed() {
			t.Logf("Tempo output:\n%s", tp.Output())
		}
	})
	return tp
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

// URL is the query API's base URL.
func (tp *Tempo) URL() string { return "http://127.0.0.1:" + strconv.Itoa(tp.HTTPPort) }

// OTLPGRPCEndpoint is host:port of Tempo's OTLP/gRPC receiver.
func (tp *Tempo) OTLPGRPCEndpoint() string { return "127.0.0.1:" + strconv.Itoa(tp.OTLPGRPCPort) }

// OTLPHTTPEndpoint is the base URL of Tempo's OTLP/HTTP receiver.
func (tp *Tempo) OTLPHTTPEndpoint() string {
	return "http://127.0.0.1:" + strconv.Itoa(tp.OTLPHTTPPort)
}

// Output returns what Tempo printed.
func (tp *Tempo) Output() string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.logs == nil {
		return ""
	}
	return tp.logs.String()
}

func (tp *Tempo) start() error {
	tp.mu.Lock()
	if tp.logs == nil {
		tp.logs = &bytes.Buffer{}
	}
	cmd := exec.Command(tp.bin, "-config.file="+tp.config, "-config.expand-env=true")
	cmd.Env = append(os.Environ(),
		"TEMPO_DATA_DIR="+tp.Dir,
		"TEMPO_HTTP_PORT="+strconv.Itoa(tp.HTTPPort),
		"TEMPO_GRPC_PORT="+strconv.Itoa(tp.GRPCPort),
		"TEMPO_OTLP_GRPC_PORT="+strconv.Itoa(tp.OTLPGRPCPort),
		"TEMPO_OTLP_HTTP_PORT="+strconv.Itoa(tp.OTLPHTTPPort),
		"TEMPO_MEMBERLIST_PORT="+strconv.Itoa(tp.MemberlistPort),
	)
	w := &lockedWriter{mu: &tp.mu, b: tp.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		tp.mu.Unlock()
		return fmt.Errorf("start Tempo: %w", err)
	}
	done := make(chan struct{})
	tp.cmd, tp.done = cmd, done
	tp.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return tp.waitReady(done)
}

// waitReady polls /ready until Tempo answers 200 (two minutes at most).
func (tp *Tempo) waitReady(done chan struct{}) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			tp.mu.Lock()
			tp.cmd = nil
			tp.mu.Unlock()
			return errors.New("Tempo exited while starting")
		default:
		}
		resp, err := http.Get(tp.URL() + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("Tempo not ready after 2 minutes")
}

// Stop stops Tempo: SIGTERM, which writes what the ingester holds to its WAL within
// milliseconds, then SIGKILL after 10 s, because Tempo 2.9's query frontend never finishes
// stopping once it has served a query (its request queue waits for a cleanup that has
// already stopped). Stopping twice is fine.
func (tp *Tempo) Stop() {
	tp.mu.Lock()
	cmd, done := tp.cmd, tp.done
	tp.cmd = nil
	tp.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts Tempo again on the same ports and data directory, after Stop.
func (tp *Tempo) Restart() {
	tp.t.Helper()
	tp.Stop()
	if err := tp.start(); err != nil {
		tp.t.Fatalf("%v:\n%s", err, tp.Output())
	}
}

// Start starts Tempo again after Stop (to keep it down for a while first).
func (tp *Tempo) Start() {
	tp.t.Helper()
	if err := tp.start(); err != nil {
		tp.t.Fatalf("%v:\n%s", err, tp.Output())
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

// Trace reads one trace back through Tempo's query API (/api/traces/<id>). found is false
// while Tempo does not know the trace (yet).
func (tp *Tempo) Trace(ctx context.Context, id pcommon.TraceID) (td ptrace.Traces, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tp.URL()+"/api/traces/"+id.String(), nil)
	if err != nil {
		return td, false, err
	}
	req.Header.Set("Accept", "application/protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return td, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return td, false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return td, false, nil
	default:
		return td, false, fmt.Errorf("GET /api/traces/%s: HTTP %d: %s", id, resp.StatusCode, body)
	}
	// Tempo answers a tempopb.Trace, whose only field (1: repeated ResourceSpans) is
	// OTLP's TracesData on the wire.
	td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
	if err != nil {
		return td, false, fmt.Errorf("decode trace: %w", err)
	}
	return td, td.SpanCount() > 0, nil
}
