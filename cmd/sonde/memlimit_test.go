package main

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restore
	old := cgroupRoot
	defer func() { cgroupRoot = old }()
	logger := slog.New(slog.DiscardHandler)
	write := func(name, content string) {
		t.Helper()
		cgroupRoot = t.TempDir()
		p := filepath.Join(cgroupRoot, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	t.Setenv("GOMEMLIMIT", "")

	write("memory.max", "536870912\n") // cgroup v2, 512 MiB
	require.Equal(t, int64(483183820), setMemoryLimit(0.9, logger))
	require.Equal(t, int64(483183820), debug.SetMemoryLimit(-1))

	write("memory/memory.limit_in_bytes", "268435456\n") // cgroup v1
	require.Equal(t, int64(241591910), setMemoryLimit(0.9, logger))

	debug.SetMemoryLimit(math.MaxInt64)
	write("memory.max", "max\n")
	require.Zero(t, setMemoryLimit(0.9, logger), "no container limit")
	write("memory/memory.limit_in_bytes", "9223372036854771712\n")
	require.Zero(t, setMemoryLimit(0.9, logger), "v1's no limit")
	cgroupRoot = t.TempDir()
	require.Zero(t, setMemoryLimit(0.9, logger), "no cgroup files")
	require.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "left alone")

	write("memory.max", "536870912\n")
	require.Zero(t, setMemoryLimit(0, logger), "ratio 0 turns it off")
	t.Setenv("GOMEMLIMIT", "100MiB")
	require.Zero(t, setMemoryLimit(0.9, logger), "GOMEMLIMIT wins")

	t.Setenv("GOMEMLIMIT", "")
	write("memory.max", "garbage\n")
	require.Zero(t, setMemoryLimit(0.9, logger), "unreadable: a warning, no limit")
}

func TestMemoryLimitRatioFlag(t *testing.T) {
	for _, v := range []string{"1.5", "-0.1", "ninety"} {
		var stderr strings.Builder
		require.Equal(t, 2, runCmd([]string{"--memory.limit-ratio=" + v}, &stderr), v)
		require.Contains(t, stderr.String(), "--memory.limit-ratio (or SONDE_MEMORY_LIMIT_RATIO)")
	}
}

func TestGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	require.Equal(t, defaultGCPercent, setGCPercent())
	require.Equal(t, defaultGCPercent, debug.SetGCPercent(defaultGCPercent))
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200) // as the runtime does at start from GOGC
	require.Equal(t, 200, setGCPercent(), "GOGC wins")
	require.Equal(t, 200, debug.SetGCPercent(200))
}
