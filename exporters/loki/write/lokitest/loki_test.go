package lokitest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// fatalTB records Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, a ...any) {
	f.msg = fmt.Sprintf(format, a...)
	runtime.Goexit()
}

func binaryOf(tb *fatalTB) (path string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = Binary(tb)
	}()
	<-done
	return path
}

// TestBinaryMissingFails: without the binary the end-to-end tests fail (never skip) and
// say how to get it.
func TestBinaryMissingFails(t *testing.T) {
	t.Setenv("SONDE_LOKI_BIN", filepath.Join(t.TempDir(), "nope"))
	tb := &fatalTB{TB: t}
	require.Empty(t, binaryOf(tb))
	require.Contains(t, tb.msg, "run make deps")
}

func TestBinaryFromCache(t *testing.T) {
	cache := t.TempDir()
	bin := filepath.Join(cache, "bin", "loki-"+LokiVersion)
	require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	t.Setenv("SONDE_LOKI_BIN", "")
	t.Setenv("SONDE_CACHE", cache)
	require.Equal(t, bin, binaryOf(&fatalTB{TB: t}))
}

func TestConfigFileExists(t *testing.T) {
	_, err := os.Stat(ConfigFile(t))
	require.NoError(t, err)
}
