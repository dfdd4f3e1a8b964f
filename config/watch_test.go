package config

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWatchConfigMapSwap replays what the kubelet does to a ConfigMap volume: the file is a
// symlink through "..data", which is atomically re-pointed at a new timestamped directory.
func TestWatchConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	writeVersion := func(name, content string) {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name, "sonde.yaml"), []byte(content), 0o644))
		tmp := filepath.Join(dir, "..data_tmp")
		require.NoError(t, os.Symlink(name, tmp))
		require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
	}
	writeVersion("..2026_01_01_v1", "v1")
	require.NoError(t, os.Symlink("..data/sonde.yaml", filepath.Join(dir, "sonde.yaml")))

	var changes atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Watch(ctx, filepath.Join(dir, "sonde.yaml"), time.Hour, slog.New(slog.DiscardHandler), func() { changes.Add(1) })
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })

	time.Sleep(50 * time.Millisecond) // let the watcher register before the first swap
	writeVersion("..2026_01_01_v2", "v2")
	require.Eventually(t, func() bool { return changes.Load() == 1 }, 5*time.Second, 10*time.Millisecond)

	// Touching without changing the content is not a change.
	writeVersion("..2026_01_01_v3", "v2")
	writeVersion("..2026_01_01_v4", "v4")
	require.Eventually(t, func() bool { return changes.Load() == 2 }, 5*time.Second, 10*time.Millisecond)
}
