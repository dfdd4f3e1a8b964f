package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// podDirRE is the kubelet's layout: <namespace>_<pod>_<uid>/<container>/<restart>.log.
var podDirRE = regexp.MustCompile(`^bench-[0-7]_app-\d{4}-[0-9a-f]{5}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/app/0\.log$`)

// readCRI checks every line of a file is CRI (RFC 3339 timestamp, stream, F, message of
// 100 to 300 bytes; JSON messages valid), timestamps strictly increasing, and returns
// the number of lines and of stderr lines.
func readCRI(t *testing.T, path string) (lines, stderr int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var last time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), " ", 4)
		require.Len(t, parts, 4, "line %q", sc.Text())
		ts, err := time.Parse(time.RFC3339Nano, parts[0])
		require.NoError(t, err)
		require.True(t, ts.After(last), "timestamps increase strictly: %s after %s", ts, last)
		last = ts
		require.Contains(t, []string{"stdout", "stderr"}, parts[1])
		require.Equal(t, "F", parts[2])
		msg := parts[3]
		require.GreaterOrEqual(t, len(msg), 100, "message %q", msg)
		require.LessOrEqual(t, len(msg), 300, "message %q", msg)
		if strings.HasPrefix(msg, "{") {
			require.True(t, json.Valid([]byte(msg)), "JSON message %q", msg)
		}
		lines++
		if parts[1] == "stderr" {
			stderr++
		}
	}
	require.NoError(t, sc.Err())
	return lines, stderr
}

func TestWriteLogs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files int
		lines int64
		rate  float64
	}{
		{name: "one file", files: 1, lines: 5000},
		{name: "lines not a multiple of files", files: 7, lines: 1000},
		{name: "more files than lines", files: 20, lines: 5},
		{name: "paced", files: 3, lines: 300, rate: 1e6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sum, err := writeLogs(t.Context(), logsOptions{dir: dir, files: tc.files, lines: tc.lines, rate: tc.rate, seed: 1}, time.Now)
			require.NoError(t, err)
			require.Equal(t, tc.lines, sum.Lines)
			require.Equal(t, tc.files, sum.Files)
			require.LessOrEqual(t, sum.FirstUnixNano, sum.LastUnixNano)

			paths, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.log"))
			require.NoError(t, err)
			require.Len(t, paths, tc.files)
			var lines, stderr int
			var bytes int64
			for _, p := range paths {
				rel, err := filepath.Rel(dir, p)
				require.NoError(t, err)
				require.Regexp(t, podDirRE, rel)
				n, e := readCRI(t, p)
				require.InDelta(t, float64(tc.lines)/float64(tc.files), n, 1, "round-robin")
				lines += n
				stderr += e
				fi, err := os.Stat(p)
				require.NoError(t, err)
				bytes += fi.Size()
			}
			require.EqualValues(t, tc.lines, lines)
			require.EqualValues(t, sum.StderrLines, stderr)
			require.Equal(t, sum.Bytes, bytes)
		})
	}
}

// The same seed names the same pods; another seed, other pods.
func TestPodLogPath(t *testing.T) {
	a := podLogPath("/p", 3, 1)
	require.Equal(t, a, podLogPath("/p", 3, 1))
	require.NotEqual(t, a, podLogPath("/p", 3, 2))
	require.NotEqual(t, a, podLogPath("/p", 4, 1))
	require.Regexp(t, podDirRE, strings.TrimPrefix(a, "/p/"))
}

// With a rate and no line count, writing goes on until the context ends.
func TestWriteLogsUntilStopped(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan LogsSummary, 1)
	go func() {
		sum, err := writeLogs(ctx, logsOptions{dir: dir, files: 2, rate: 1000, seed: 1}, time.Now)
		require.NoError(t, err)
		done <- sum
	}()
	path := podLogPath(dir, 0, 1)
	require.Eventually(t, func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() > 0
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	sum := <-done
	require.Positive(t, sum.Lines)
	n0, _ := readCRI(t, path)
	n1, _ := readCRI(t, podLogPath(dir, 1, 1))
	require.EqualValues(t, sum.Lines, n0+n1)
}

// BenchmarkLineGen is the cost of one message.
func BenchmarkLineGen(b *testing.B) {
	g := newLineGen(1)
	now := time.Now()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = g.next(buf[:0], now)
	}
}
