package file

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// Compress does what the kubelet does to a rotation: gzip it through <path>.tmp, rename
// that to <path>.gz, remove path. Exported for the Loki tests (package file_test).
func Compress(t *testing.T, path string) {
	t.Helper()
	in, err := os.ReadFile(path)
	require.NoError(t, err)
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err = w.Write(in)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(path+".tmp", b.Bytes(), 0o644))
	require.NoError(t, os.Rename(path+".tmp", path+".gz"))
	require.NoError(t, os.Remove(path))
}

// stopUnacked runs a component on log until the lines prefix-0 … prefix-<acked-1> are
// committed, then has it read prefix-<acked> … prefix-<read-1> without their batches being
// acknowledged, and stops it: its position stays after the acknowledged lines, as after a
// kill. It returns the data path.
func stopUnacked(t *testing.T, args *Arguments, log, prefix string, acked, read int) string {
	t.Helper()
	h := startCommitted(t, args, log, prefix, acked)
	committed := readPositions(t, h.opts.DataPath)[log]
	h.sink.Hold(true)
	writeLines(t, log, prefix, acked, read)
	waitLines(t, h.sink, read)
	h.stop()
	require.Equal(t, committed, readPositions(t, h.opts.DataPath)[log], "the unacknowledged lines are not committed")
	return h.opts.DataPath
}

// kubeletRotations does, while sonde is stopped, what the kubelet does when the file sonde
// was reading (log) is rotated twice: the runtime writes prefix lines from..to to it, it is
// renamed 0.log.<tsA>, the new 0.log gets 300 b lines, and at the next rotation the kubelet
// compresses 0.log.<tsA> and renames 0.log to 0.log.<tsB>; then 20 c lines go to a new 0.log.
func kubeletRotations(t *testing.T, log, prefix string, from, to int) {
	t.Helper()
	writeLines(t, log, prefix, from, to)
	rotate(t, log, "20240305-070809")
	writeLines(t, log, "b", 0, 300)
	Compress(t, log+".20240305-070809")
	rotate(t, log, "20240305-080809")
	writeLines(t, log, "c", 0, 20)
}

// TestCompressedWhileStopped reproduces the loss the real node showed: sonde is stopped
// (killed) before it has delivered the end of 0.log, and while it is down the kubelet
// rotates the file and, at the next rotation, compresses it. The rest of the file is read
// from the .gz, from the saved position, in order before the newer files; each line once.
// Before, the 20 lines acknowledged by no one and the 20 written while sonde was down (40)
// were lost.
func TestCompressedWhileStopped(t *testing.T) {
	log, args := podLog(t)
	data := stopUnacked(t, args, log, "a", 50, 70)

	kubeletRotations(t, log, "a", 70, 90)

	want := append(append(expectLines("a", 50, 90), expectLines("b", 0, 300)...), expectLines("c", 0, 20)...)
	restartExpect(t, args, data, log, want, "a", "b", "c")
}

// TestCompressedRotationWhileStopped: sonde had followed the rotation (its position records
// 0.log.<ts>) when it was stopped; the kubelet compressed that file into 0.log.<ts>.gz. The
// rest is read from the .gz.
func TestCompressedRotationWhileStopped(t *testing.T) {
	log, args := podLog(t)
	h := start(t, args, "", nil)
	writeLines(t, log, "a", 0, 50)
	waitLines(t, h.sink, 50)
	rotated := log + ".20240305-070809"
	rotate(t, log, "20240305-070809")
	writeLines(t, log, "c", 0, 10)
	waitLines(t, h.sink, 60)
	h.sink.Hold(true)
	writeLines(t, rotated, "a", 50, 80) // the runtime still writes to the renamed file
	waitLines(t, h.sink, 90)
	h.stop()
	require.Contains(t, readPositions(t, h.opts.DataPath), rotated, "the position records the rotation")

	Compress(t, rotated)
	restartExpect(t, args, h.opts.DataPath, log, expectLines("a", 50, 80), "a")
}

// TestCompressedReadOnce: a compressed file read after a restart is stopped half-way (its
// batches not acknowledged): its position is saved under the .gz, and the next start reads
// the rest from there. Once read to its end and acknowledged it is never read again.
func TestCompressedReadOnce(t *testing.T) {
	log, args := podLog(t)
	data := stopUnacked(t, args, log, "a", 50, 50)
	kubeletRotations(t, log, "a", 50, 1000)

	h := start(t, args, data, nil)
	h.sink.Hold(true)
	waitLines(t, h.sink, 100)
	h.stop()
	gz := log + ".20240305-070809.gz"
	require.Contains(t, readPositions(t, data), gz, "the .gz has a position while it is not acknowledged")

	want := append(append(expectLines("a", 50, 1000), expectLines("b", 0, 300)...), expectLines("c", 0, 20)...)
	restartExpect(t, args, data, log, want, "a", "b", "c")
	require.NotContains(t, readPositions(t, data), gz, "read to its end and acknowledged: forgotten")

	h = start(t, args, data, nil)
	writeLines(t, log, "d", 0, 1)
	requireExactlyOnce(t, []string{"d-000000"}, waitMarker(t, h, "d-000000"))
}

// TestCompressedWithoutPositionLeftAlone: a file read while sonde runs, then compressed and
// its uncompressed file deleted, leaves no position behind: after a restart its .gz is not
// read; nor is a .gz with no position at all.
func TestCompressedWithoutPositionLeftAlone(t *testing.T) {
	log, args := podLog(t)
	writeLines(t, log+".20240305-050000", "o", 0, 10)
	Compress(t, log+".20240305-050000")
	h := start(t, args, "", nil)
	writeLines(t, log, "a", 0, 50)
	waitLines(t, h.sink, 50)
	rotate(t, log, "20240305-070809")
	writeLines(t, log, "b", 0, 10)
	waitLines(t, h.sink, 60)
	Compress(t, log+".20240305-070809")
	require.Eventually(t, func() bool {
		_, ok := readPositions(t, h.opts.DataPath)[log+".20240305-070809"]
		return !ok
	}, 10*time.Second, 5*time.Millisecond, "the deleted rotation's position is forgotten")
	h.stop()

	restartExpect(t, args, h.opts.DataPath, log, nil)
}

// TestCompressedAfterInodeReuse: while sonde was stopped, the inode of the file it was
// reading was freed (the file compressed and removed) and given to the new 0.log, as ext4
// does. The position must not be taken for the new 0.log's: the .gz is read from the
// position, the rotation made while sonde was down is read whole (it was taken for one
// older than a file sonde knew, and skipped), and the new 0.log from its start.
func TestCompressedAfterInodeReuse(t *testing.T) {
	log, args := podLog(t)
	data := stopUnacked(t, args, log, "a", 50, 60)
	kubeletRotations(t, log, "a", 60, 70)

	// The kernel reused the inode: the saved position now names the new 0.log's inode.
	fi, err := os.Stat(log)
	require.NoError(t, err)
	ino := fi.Sys().(*syscall.Stat_t).Ino
	editPositions(t, data, func(e map[string]any) {
		if e["path"] == log {
			e["ino"] = ino
		}
	})

	want := append(append(expectLines("a", 50, 70), expectLines("b", 0, 300)...), expectLines("c", 0, 20)...)
	restartExpect(t, args, data, log, want, "a", "b", "c")
}

// TestCompressedWhileBlocked: while forward_to blocks, a compressed file being read is
// listed by DebugInfo as a rotation being drained, and adds nothing to unread_bytes (its
// size on disk says nothing of what is left of its content): here unread_bytes is exactly
// the size of the new 0.log, which waits for the .gz. Once read, the .gz is released as
// compressed.
func TestCompressedWhileBlocked(t *testing.T) {
	log, args := podLog(t)
	args.BatchSize = 64 << 10
	data := stopUnacked(t, args, log, "a", 10, 10)
	var b strings.Builder
	for i := range 200000 { // about 10 MB, 0.5 MB compressed
		b.WriteString(criLine(fmt.Sprintf("a-%06d", 10+i)))
	}
	appendFile(t, log, b.String())
	rotate(t, log, "20240305-070809")
	Compress(t, log+".20240305-070809")
	writeLines(t, log, "c", 0, 10)
	live, err := os.Stat(log)
	require.NoError(t, err)

	sink := newGateSink()
	sink.closed.Store(true)
	h := start(t, args, data, sink)
	require.Eventually(t, func() bool { return h.c.batcher.Blocked() == 1 }, 10*time.Second, time.Millisecond)
	require.Equal(t, float64(live.Size()), testutil.ToFloat64(h.c.metrics.unreadBytes))
	info := h.c.DebugInfo().(DebugInfo)
	require.Equal(t, 1, info.Totals.RotatedDraining, "%+v", info.Files)
	require.True(t, slices.ContainsFunc(info.Files, func(f FileDebugInfo) bool {
		return f.Path == log+".20240305-070809.gz" && f.State == FileRotatedDraining
	}), "%+v", info.Files)

	close(sink.open)
	sink.closed.Store(false)
	require.Eventually(t, func() bool { return sink.entries() == 200010 }, 60*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(h.c.metrics.filesReleased.WithLabelValues("compressed")) == 1
	}, 10*time.Second, 5*time.Millisecond)
}

// TestCompressedLargeSkip: resuming a large compressed file far into it streams it: the
// skipped part is decompressed and dropped a piece at a time, never held, and the rest is
// read as usual. It reports how long the skip and the read took.
func TestCompressedLargeSkip(t *testing.T) {
	log, args := podLog(t)
	data := stopUnacked(t, args, log, "a", 10, 10)

	// 0.log grows to about 64 MiB while sonde is down; sonde had read none of it but the
	// first 10 lines.
	const lines = 600_000
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	var b strings.Builder
	for i := 10; i < lines; i++ {
		b.WriteString(criLine(fmt.Sprintf("a-%06d %s", i, strings.Repeat("x", 64))))
		if b.Len() > 1<<20 {
			_, err = f.WriteString(b.String())
			require.NoError(t, err)
			b.Reset()
		}
	}
	_, err = f.WriteString(b.String())
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// The position moves near the end, as if all but the last 100 lines were acknowledged.
	st, err := os.Stat(log)
	require.NoError(t, err)
	end := st.Size()
	content, err := os.ReadFile(log)
	require.NoError(t, err)
	offset := int64(bytes.LastIndex(content[:end-1], []byte("a-599900")))
	offset = int64(bytes.LastIndexByte(content[:offset], '\n')) + 1
	content = nil
	setOffset(t, data, log, offset)
	rotate(t, log, "20240305-070809")
	Compress(t, log+".20240305-070809")
	writeLines(t, log, "c", 0, 1) // the runtime's new 0.log
	gz, err := os.Stat(log + ".20240305-070809.gz")
	require.NoError(t, err)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	began := time.Now()
	h := start(t, args, data, nil)
	require.Eventually(t, func() bool { return slices.Contains(lineSet(h.sink.Entries()), "c-000000") }, // read after the .gz
		30*time.Second, time.Millisecond)
	took := time.Since(began)
	got := waitMarker(t, h, "c-000000")
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	h.stop()
	want := []string{"c-000000"}
	for i := lines - 100; i < lines; i++ {
		want = append(want, fmt.Sprintf("a-%06d %s", i, strings.Repeat("x", 64)))
	}
	requireExactlyOnce(t, want, got)
	t.Logf("resumed %d MiB (gzip %d KiB) at offset %d: start to the last line %v, heap in use %+d KiB",
		end>>20, gz.Size()>>10, offset, took.Round(time.Millisecond), (int64(after.HeapInuse)-int64(before.HeapInuse))>>10)
	require.Less(t, int64(after.HeapInuse)-int64(before.HeapInuse), int64(32<<20), "streamed, not loaded whole")
}

// setOffset rewrites the positions file in data so that path's offset is offset.
func setOffset(t *testing.T, data, path string, offset int64) {
	t.Helper()
	editPositions(t, data, func(e map[string]any) {
		if e["path"] == path {
			e["offset"] = offset
		}
	})
}

// editPositions rewrites each line of the positions file in data through edit.
func editPositions(t *testing.T, data string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(data, positionsFile)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		var e map[string]any
		require.NoError(t, d.Decode(&e))
		edit(e)
		l2, err := json.Marshal(e)
		require.NoError(t, err)
		out = append(out, string(l2))
	}
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(out, "\n")+"\n"), 0o644))
}
