package file

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// TestRestartResendsUnacked stops the component while the sink holds batches without
// acknowledging them: a new component on the same data directory sends those lines again,
// and none of the acknowledged ones.
func TestRestartResendsUnacked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	args := testArgs(filepath.Join(dir, "*.log"))
	h1 := start(t, args, "", nil)
	writeLines(t, path, "a", 0, 100)
	waitLines(t, h1.sink, 100)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readPositions(t, h1.opts.DataPath)[path] == fi.Size() },
		10*time.Second, 5*time.Millisecond, "acknowledged lines are committed")

	h1.sink.Hold(true)
	writeLines(t, path, "a", 100, 200)
	waitLines(t, h1.sink, 200)
	h1.stop()
	require.Equal(t, fi.Size(), readPositions(t, h1.opts.DataPath)[path], "unacknowledged lines are not committed")
	require.Positive(t, h1.sink.AckHeld(nil), "acknowledgements after the stop change nothing")

	h2 := start(t, args, h1.opts.DataPath, nil)
	writeLines(t, path, "a", 200, 201) // a marker: once it arrives, nothing else is pending
	requireExactlyOnce(t, expectLines("a", 100, 201), waitLines(t, h2.sink, 101))
}

// TestRestartAcrossRotation: the file is rotated while sonde is stopped, with lines it had
// not read yet. The rotation no longer matches *.log, yet its position is known: it is
// resumed, and the new 0.log is read from its start.
func TestRestartAcrossRotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ns_pod_uid", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	log := filepath.Join(dir, "0.log")
	args := testArgs(filepath.Join(dir, "*.log"))
	h1 := start(t, args, "", nil)
	writeLines(t, log, "a", 0, 50)
	waitLines(t, h1.sink, 50)
	fi, err := os.Stat(log)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readPositions(t, h1.opts.DataPath)[log] == fi.Size() },
		10*time.Second, 5*time.Millisecond)
	h1.stop()

	writeLines(t, log, "a", 50, 80) // written while sonde is down
	require.NoError(t, os.Rename(log, log+".20240305-070809"))
	writeLines(t, log, "a", 80, 100)

	h2 := start(t, args, h1.opts.DataPath, nil)
	requireExactlyOnce(t, expectLines("a", 50, 100), waitLines(t, h2.sink, 50))
}

// TestRotationsAtStartupAreLeftAlone: rotations already on disk at the first start, with
// no position, are older than sonde: they are not read (only 0.log is).
func TestRotationsAtStartupAreLeftAlone(t *testing.T) {
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "0.log.20240305-060000"), "old", 0, 10)
	writeLines(t, filepath.Join(dir, "0.log"), "new", 0, 10)
	h := start(t, testArgs(filepath.Join(dir, "*.log")), "", nil)
	writeLines(t, filepath.Join(dir, "0.log"), "new", 10, 11)
	requireExactlyOnce(t, expectLines("new", 0, 11), waitLines(t, h.sink, 11))
	// And they stay left alone at later reconciles.
	h.c.rescan()
	writeLines(t, filepath.Join(dir, "0.log"), "new", 11, 12)
	requireExactlyOnce(t, expectLines("new", 0, 12), waitLines(t, h.sink, 12))
}

// ackingSink acknowledges batches late and out of order, remembering which lines were
// acknowledged, so that a test can check the positions file against them at any moment.
type ackingSink struct {
	mu    sync.Mutex
	held  []pipeline.LogBatch
	acked map[string]bool
	all   []string
}

func (s *ackingSink) ConsumeLogs(_ context.Context, b pipeline.LogBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = append(s.held, b)
	for _, e := range b.Entries {
		s.all = append(s.all, e.Line)
	}
	return nil
}

// ackSome acknowledges a random half of the held batches.
func (s *ackingSink) ackSome(r *rand.Rand) {
	s.mu.Lock()
	var keep, ack []pipeline.LogBatch
	for _, b := range s.held {
		if r.IntN(2) == 0 {
			ack = append(ack, b)
		} else {
			keep = append(keep, b)
		}
	}
	s.held = keep
	for _, b := range ack {
		for _, e := range b.Entries {
			s.acked[e.Line] = true
		}
	}
	s.mu.Unlock()
	for _, b := range ack {
		b.Ack(nil)
	}
}

func (s *ackingSink) isAcked(line string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[line]
}

// TestPositionsNeverAheadOfAcks reads the positions file again and again while lines are
// written and acknowledged out of order: at every moment (a SIGKILL could strike at any of
// them) every line before the recorded offset has been acknowledged. A restart from that
// file loses nothing.
func TestPositionsNeverAheadOfAcks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	sink := &ackingSink{acked: map[string]bool{}}
	args := testArgs(path)
	args.BatchSize = 2 << 10 // many small batches
	h := start(t, args, "", sink)

	// Fixed-width lines: line i ends at (i+1)*width.
	line := func(i int) string { return fmt.Sprintf("line-%06d", i) }
	width := int64(len(fmt.Sprintf("2024-03-05T07:08:09.000000000Z stdout F %s\n", line(0))))
	const total = 20000
	r := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for written := 0; written < total; written += 500 {
		var b strings.Builder
		for i := written; i < written+500; i++ {
			fmt.Fprintf(&b, "2024-03-05T07:08:09.000000000Z stdout F %s\n", line(i))
		}
		appendFile(t, path, b.String())
		sink.ackSome(r)
		off := readPositions(t, h.opts.DataPath)[path]
		require.Zero(t, off%width, "offsets fall on line boundaries")
		for i := 0; int64(i+1)*width <= off; i++ {
			require.True(t, sink.isAcked(line(i)), "offset %d passes unacknowledged %s", off, line(i))
		}
		checked++
	}
	// Drain: acknowledge everything; the offset reaches the end.
	require.Eventually(t, func() bool {
		sink.ackSome(r)
		return readPositions(t, h.opts.DataPath)[path] == total*width
	}, 30*time.Second, 5*time.Millisecond)
	require.Equal(t, 40, checked)
	sink.mu.Lock()
	requireExactlyOnce(t, func() []string {
		var out []string
		for i := range total {
			out = append(out, line(i))
		}
		return out
	}(), sink.all)
	sink.mu.Unlock()
}

// TestCopyTruncate: the file is truncated under the tailer (logrotate's copytruncate) and
// written again; the new content is read from its start.
func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	writeLines(t, path, "before", 0, 50)
	h := start(t, testArgs(path), "", nil)
	waitLines(t, h.sink, 50)

	require.NoError(t, os.Truncate(path, 0))
	writeLines(t, path, "after", 0, 20)
	got := waitLines(t, h.sink, 70)
	requireExactlyOnce(t, append(expectLines("before", 0, 50), expectLines("after", 0, 20)...), got)
	require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.truncations))
}

// TestTruncateAndRegrow: the file is truncated and rewritten past the old offset in one go
// (nothing can see it shrink): the fingerprint of its first bytes tells.
func TestTruncateAndRegrow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	writeLines(t, path, "before", 0, 50)
	args := testArgs(path)
	h1 := start(t, args, "", nil)
	waitLines(t, h1.sink, 50)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readPositions(t, h1.opts.DataPath)[path] == fi.Size() },
		10*time.Second, 5*time.Millisecond)
	h1.stop()

	// Same inode, other content, longer than the recorded offset.
	var b strings.Builder
	for i := range 100 {
		b.WriteString(criLine(fmt.Sprintf("after-%06d", i)))
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))

	h2 := start(t, args, h1.opts.DataPath, nil)
	requireExactlyOnce(t, expectLines("after", 0, 100), waitLines(t, h2.sink, 100))
}

// TestDeletedFileReleased: a deleted file is drained, what was still written through an
// open descriptor included, then closed.
func TestDeletedFileReleased(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	writeLines(t, path, "a", 0, 10)
	h := start(t, testArgs(filepath.Join(dir, "*.log")), "", nil)
	waitLines(t, h.sink, 10)
	require.Equal(t, 1, openFDs(t, dir))

	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	require.NoError(t, os.Remove(path))
	for i := 10; i < 15; i++ {
		_, err := w.WriteString(criLine(fmt.Sprintf("a-%06d", i)))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	requireExactlyOnce(t, expectLines("a", 0, 15), waitLines(t, h.sink, 15))
	require.Eventually(t, func() bool { return openFDs(t, dir) == 0 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.filesReleased.WithLabelValues("deleted")))
	// Its position is forgotten once acknowledged.
	require.Eventually(t, func() bool { _, ok := readPositions(t, h.opts.DataPath)[path]; return !ok },
		10*time.Second, 5*time.Millisecond)
}

// blockingSink blocks every ConsumeLogs until released.
type blockingSink struct {
	release chan struct{}
	mu      sync.Mutex
	lines   []string
}

func (s *blockingSink) ConsumeLogs(ctx context.Context, b pipeline.LogBatch) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	for _, e := range b.Entries {
		s.lines = append(s.lines, e.Line)
	}
	s.mu.Unlock()
	b.Ack(nil)
	return nil
}

// TestBackpressure: while forward_to blocks, reading stops with memory bounded (one chunk
// per reader and one batch), and nothing is dropped once it resumes.
func TestBackpressure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	const total = 200000 // about 12 MiB
	var b strings.Builder
	for i := range total {
		b.WriteString(criLine(fmt.Sprintf("a-%06d", i)))
	}
	appendFile(t, path, b.String())
	sink := &blockingSink{release: make(chan struct{})}
	args := testArgs(path)
	args.BatchSize = 64 << 10
	h := start(t, args, "", sink)

	// The reader ends up waiting to hand over a chunk: from then on nothing is read.
	require.Eventually(t, func() bool { return h.c.batcher.Blocked() == 1 }, 10*time.Second, time.Millisecond)
	read := testutil.ToFloat64(h.c.metrics.readBytes)
	bound := float64(args.BatchSize) + 2*float64(minReadBuffer+int(args.MaxLineSize)+64<<10)
	require.LessOrEqual(t, read, bound, "read while blocked")
	require.Less(t, read, float64(b.Len()))

	close(sink.release)
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.lines) >= total
	}, 60*time.Second, 10*time.Millisecond)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	requireExactlyOnce(t, expectLines("a", 0, total), sink.lines)
}

// TestManyFiles tails hundreds of files at once, each line exactly once.
func TestManyFiles(t *testing.T) {
	dir := t.TempDir()
	const files, lines = 300, 20
	var want []string
	for f := range files {
		prefix := fmt.Sprintf("f%03d", f)
		writeLines(t, filepath.Join(dir, prefix+".log"), prefix, 0, lines/2)
		want = append(want, expectLines(prefix, 0, lines)...)
	}
	h := start(t, testArgs(filepath.Join(dir, "*.log")), "", nil)
	waitLines(t, h.sink, files*lines/2)
	for f := range files {
		prefix := fmt.Sprintf("f%03d", f)
		writeLines(t, filepath.Join(dir, prefix+".log"), prefix, lines/2, lines)
	}
	requireExactlyOnce(t, want, waitLines(t, h.sink, files*lines))
	require.Equal(t, files, openFDs(t, dir))
}

// failingSink refuses the first batches with an error that is not its context's.
type failingSink struct {
	mu    sync.Mutex
	fails int
	lines []string
}

func (s *failingSink) ConsumeLogs(_ context.Context, b pipeline.LogBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		return fmt.Errorf("refused")
	}
	for _, e := range b.Entries {
		s.lines = append(s.lines, e.Line)
	}
	b.Ack(nil)
	return nil
}

// TestRefusedBatchRetried: a receiver breaking the contract by failing is retried, and the
// lines arrive once.
func TestRefusedBatchRetried(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	writeLines(t, path, "a", 0, 10)
	sink := &failingSink{fails: 1}
	start(t, testArgs(path), "", sink)
	require.Eventually(t, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.lines) == 10
	}, 10*time.Second, 5*time.Millisecond)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	requireExactlyOnce(t, expectLines("a", 0, 10), sink.lines)
}
