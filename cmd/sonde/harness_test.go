package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// The end-to-end tests run the real sonde binary against real backends on 127.0.0.1.
// Backends are installed by `make deps`; a missing one fails the test (never a skip).

// TestMain removes the sonde binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	backendtest.RemoveSondeBinary()
	os.Exit(code)
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
	values, err := res[0].Floats()
	require.NoError(t, err)
	return values
}

// sonde is a sonde process on a port of its own, with its own storage directory; it is
// killed when the test ends, its output logged if the test failed.
type sonde struct {
	t       *testing.T
	bin     string
	port    int
	storage string
	args    []string
	proc    *backendtest.Process
}

func newSonde(t *testing.T, args ...string) *sonde {
	t.Helper()
	s := &sonde{t: t, bin: backendtest.SondeBinary(t), storage: t.TempDir(), args: args,
		proc: &backendtest.Process{Name: "sonde", ReadyTimeout: 60 * time.Second}}
	s.proc.StopAtEnd(t, s.proc.Kill)
	backendtest.StartOnFreePorts(t, s.proc, func() { s.port = backendtest.FreePort(t) }, s.run)
	return s
}

func (s *sonde) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

// run starts sonde and waits until it is healthy.
func (s *sonde) run() error {
	args := append([]string{"run",
		fmt.Sprintf("--server.listen=127.0.0.1:%d", s.port),
		"--storage.path=" + s.storage,
	}, s.args...)
	return s.proc.Start(s.bin, args, nil, backendtest.HTTPOK(s.URL()+"/-/healthy"))
}

// start starts sonde again, on the same port and storage, after proc.Kill or proc.Stop.
func (s *sonde) start() {
	s.t.Helper()
	if err := s.run(); err != nil {
		s.t.Fatalf("%v:\n%s", err, s.proc.Output())
	}
}

// waitReady waits until sonde reports ready (/-/ready), failing the test if it exits first.
func (s *sonde) waitReady(t *testing.T) {
	t.Helper()
	require.NoError(t, s.proc.WaitReady(backendtest.HTTPOK(s.URL()+"/-/ready"), 60*time.Second))
}

// reload asks sonde to reload its configuration and returns the answer's status and body.
func (s *sonde) reload(t *testing.T) (int, string) {
	t.Helper()
	return backendtest.Fetch(t, http.MethodPost, s.URL()+"/-/reload")
}

// metric returns the value of one of sonde's own metrics (summed over matching series).
func (s *sonde) metric(t *testing.T, name string, match ...string) float64 {
	t.Helper()
	_, body := backendtest.Fetch(t, http.MethodGet, s.URL()+"/metrics")
	var sum float64
	for _, line := range strings.Split(body, "\n") {
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
	addr   string
}

func newCounterTarget(t *testing.T) *counterTarget {
	t.Helper()
	ct := &counterTarget{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct.mu.Lock()
		ct.served++
		n := ct.served
		ct.mu.Unlock()
		fmt.Fprintf(w, "# TYPE e2e_scrapes_total counter\ne2e_scrapes_total %d\n", n)
	}))
	t.Cleanup(srv.Close)
	ct.addr = srv.Listener.Addr().String()
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
