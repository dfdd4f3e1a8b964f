package pipelinetest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Options returns Options for a component under test: a logger that writes to the test log
// (and goes quiet once the test ends), a fresh registry, a temporary data directory, and the
// given host. Connect what the component exports to the host with host.Export(id, c).
func Options(t testing.TB, id string, host *Host) pipeline.Options {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", id)
	return pipeline.Options{
		ID:         id,
		Logger:     logger,
		Registerer: prometheus.NewRegistry(),
		DataPath:   filepath.Join(t.TempDir(), strings.ReplaceAll(id, "/", "_")),
		Health:     pipeline.NewHealth(),
		Host:       host,
		ServerAddr: "127.0.0.1:12345",
		HTTPPath:   "/api/v1/components/" + id + "/",
		Kube:       kube.NewCache(logger), // its own per test; it needs no stopping
	}
}

// Lifecycle is the test every component passes: it builds the component from args, runs it,
// applies updated (when the component is an Updater and updated is not nil), stops it by
// cancelling the context, and checks that Run returned without error and that no goroutine
// outlives it.
func Lifecycle(t *testing.T, reg pipeline.Registration, args, updated pipeline.Arguments) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	require.NoError(t, args.Validate(), "arguments must be valid")

	host := NewHost()
	opts := Options(t, reg.Type+"/lifecycle", host)
	c, err := reg.New(opts, args)
	require.NoError(t, err, "New")
	require.NoError(t, reg.CheckExports(c), "a registration exports exactly the edge kinds its component implements")
	host.Export(opts.ID, c)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	if reg.Update != nil && updated != nil {
		require.NoError(t, updated.Validate(), "updated arguments must be valid")
		require.NoError(t, reg.Update(c, updated), "Update")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "Run after cancel")
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancellation")
	}
	goleak.VerifyNone(t, ignore,
		// Process-wide pools that libraries start once and keep.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}

// testWriter forwards log output to the test log until the test ends; afterwards (a
// goroutine still logging while shutting down) it discards.
type testWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	if testing.Verbose() || os.Getenv("SONDE_TEST_LOG") != "" {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

var _ io.Writer = (*testWriter)(nil)
