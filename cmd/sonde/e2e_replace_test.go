package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// TestE2EReplacementWaitsForTheOldAgent: a DaemonSet pod deleted with no grace period is
// replaced while the old agent still stops; the new one, on the same storage path and port,
// waits for the old one's lock instead of failing to bind (it used to exit and sit in
// CrashLoopBackOff on the real node), and serves once the old one is gone.
func TestE2EReplacementWaitsForTheOldAgent(t *testing.T) {
	cfg := writeConfig(t, "components:\n  prometheus.exporter.self/self: {}\n")
	old := newSonde(t, "--config="+cfg)

	next := &backendtest.Process{Name: "sonde (replacement)", ReadyTimeout: 60 * time.Second}
	next.StopAtEnd(t, next.Kill)
	started := make(chan error, 1)
	var oldGone atomic.Bool // until then, the old agent is the one that answers on the port
	healthy := backendtest.HTTPOK(old.URL() + "/-/healthy")
	go func() {
		started <- next.Start(old.bin, []string{"run", fmt.Sprintf("--server.listen=127.0.0.1:%d", old.port),
			"--storage.path=" + old.storage, "--config=" + cfg}, nil, func() bool { return oldGone.Load() && healthy() })
	}()
	require.Eventually(t, func() bool {
		return strings.Contains(next.Output(), "the storage path is locked by another sonde process")
	}, 30*time.Second, 50*time.Millisecond, "the replacement does not say it waits")
	require.NoError(t, next.ExitErr(), "the replacement exited while the old agent ran")
	require.NotContains(t, next.Output(), "sonde started", "the replacement started while the old agent held the storage path")

	old.proc.Kill()
	oldGone.Store(true)
	require.NoError(t, <-started, next.Output())
	require.Contains(t, next.Output(), "sonde started")
	require.NotContains(t, next.Output(), "address already in use")
}

// TestE2EStorageInUse: a second agent on a storage path that stays in use gives up with an
// error that says so, instead of sharing positions and write-ahead logs.
func TestE2EStorageInUse(t *testing.T) {
	cfg := writeConfig(t, "components:\n  prometheus.exporter.self/self: {}\n")
	first := newSonde(t, "--config="+cfg)
	second := &backendtest.Process{Name: "sonde (second)"}
	second.StopAtEnd(t, second.Kill)
	err := second.Start(first.bin, []string{"run", "--server.listen=127.0.0.1:0", "--storage.path=" + first.storage,
		"--config=" + cfg, "--storage.lock-timeout=1s"}, nil, func() bool { return false })
	require.Error(t, err)
	require.Contains(t, second.Output(), "is in use by another sonde process")
}
