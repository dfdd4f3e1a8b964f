package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// `loadgen logs` writes the files and prints its summary as JSON.
func TestRunLogs(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"logs", "--dir", dir, "--files", "2", "--lines", "10"}, &stdout, &stderr), stderr.String())
	var sum LogsSummary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum))
	require.EqualValues(t, 10, sum.Lines)
	require.Equal(t, 2, sum.Files)
	require.Positive(t, sum.Bytes)
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{name: "no command", args: nil, code: 2, out: "Usage:"},
		{name: "unknown command", args: []string{"nope"}, code: 2, out: `unknown command "nope"`},
		{name: "help", args: []string{"help"}, code: 0},
		{name: "zero targets", args: []string{"targets", "--targets", "0"}, code: 2, out: "at least 1"},
		{name: "stray argument", args: []string{"sink", "extra"}, code: 2, out: "unexpected arguments"},
		{name: "bad flag", args: []string{"targets", "--nope"}, code: 2, out: "flag provided but not defined"},
		{name: "port range overflows", args: []string{"targets", "--listen-base", "127.0.0.1:65535", "--targets", "2"}, code: 1, out: "not all valid"},
		{name: "bad listen base", args: []string{"targets", "--listen-base", "nocolon"}, code: 1, out: "--listen-base"},
		{name: "loki sink stray argument", args: []string{"loki-sink", "extra"}, code: 2, out: "loadgen loki-sink: unexpected arguments"},
		{name: "loki sink bad address", args: []string{"loki-sink", "--listen", "nocolon"}, code: 1, out: "loki-sink stopped with an error"},
		{name: "logs without dir", args: []string{"logs", "--lines", "1"}, code: 2, out: "--dir is required"},
		{name: "logs without an end", args: []string{"logs", "--dir", "x"}, code: 2, out: "give --lines, --rate or both"},
		{name: "logs zero files", args: []string{"logs", "--dir", "x", "--files", "0", "--lines", "1"}, code: 2, out: "at least 1"},
		{name: "logs stray argument", args: []string{"logs", "--dir", "x", "--lines", "1", "extra"}, code: 2, out: "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			require.Equal(t, tc.code, run(tc.args, &stdout, &stderr))
			require.Contains(t, stdout.String()+stderr.String(), tc.out)
		})
	}
}

// The servers stop, with every goroutine, when their context ends (goleak checks).
func TestServeStopsWithContext(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name  string
		serve func(ctx context.Context) error
	}{
		{name: "targets", serve: func(ctx context.Context) error {
			return serveTargets(ctx, "127.0.0.1:0", 1, 100, 1, 0, 0, logger)
		}},
		{name: "sink", serve: func(ctx context.Context) error {
			return serveSink(ctx, "127.0.0.1:0", 1<<20, logger)
		}},
		{name: "loki sink", serve: func(ctx context.Context) error {
			return serveLokiSink(ctx, "127.0.0.1:0", 1<<20, logger)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- tc.serve(ctx) }()
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("server did not stop")
			}
		})
	}
}
