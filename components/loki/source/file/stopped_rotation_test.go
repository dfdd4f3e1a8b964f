package file

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// rotate renames the kubelet way: 0.log becomes 0.log.<ts>.
func rotate(t *testing.T, log, ts string) {
	t.Helper()
	require.NoError(t, os.Rename(log, log+"."+ts))
}

// runUntilCommitted runs a first component on dir's *.log until log is committed to its end,
// then stops it; it returns the data path.
func runUntilCommitted(t *testing.T, args *Arguments, log string, lines int) string {
	t.Helper()
	h := start(t, args, "", nil)
	waitLines(t, h.sink, lines)
	fi, err := os.Stat(log)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readPositions(t, h.opts.DataPath)[log] == fi.Size() },
		10*time.Second, 5*time.Millisecond)
	h.stop()
	return h.opts.DataPath
}

// waitMarker waits for the line marker, lets what may still come in arrive, and returns the
// lines received.
func waitMarker(t *testing.T, h *harness, marker string) []string {
	t.Helper()
	require.Eventually(t, func() bool { return slices.Contains(lineSet(h.sink.Entries()), marker) },
		30*time.Second, 5*time.Millisecond, "waiting for %s", marker)
	time.Sleep(100 * time.Millisecond)
	return lineSet(h.sink.Entries())
}

// requireInOrder checks that the entries of es come in the order of want's prefixes: every
// line of want[i] before any of want[i+1].
func requireInOrder(t *testing.T, es []pipeline.LogEntry, prefixes ...string) {
	t.Helper()
	rank := map[string]int{}
	for i, p := range prefixes {
		rank[p] = i
	}
	last := 0
	for _, e := range es {
		r := rank[e.Line[:1]]
		require.GreaterOrEqual(t, r, last, "%s arrived after lines of %s", e.Line, prefixes[last])
		last = r
	}
}

// TestTwoRotationsWhileStopped: the kubelet rotates twice while sonde is stopped. The first
// rotation (the file sonde was reading) has a position; the second (a file created and
// rotated while sonde was down) has none, but its stream has one: it is read whole, in
// order, between the first and the live file. Before, its 420 lines were lost.
func TestTwoRotationsWhileStopped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ns_pod_uid", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	log := filepath.Join(dir, "0.log")
	args := testArgs(filepath.Join(dir, "*.log"))
	writeLines(t, log, "a", 0, 50)
	data := runUntilCommitted(t, args, log, 50)

	writeLines(t, log, "a", 50, 80) // while sonde is down
	rotate(t, log, "20240305-070809")
	writeLines(t, log, "b", 0, 420)
	rotate(t, log, "20240305-080809")
	writeLines(t, log, "c", 0, 20)

	h := start(t, args, data, nil)
	want := append(append(expectLines("a", 50, 80), expectLines("b", 0, 420)...), expectLines("c", 0, 20)...)
	writeLines(t, log, "c", 20, 21) // a marker: once it is in, nothing else is pending
	want = append(want, expectLines("c", 20, 21)...)
	requireExactlyOnce(t, want, waitMarker(t, h, "c-000020"))
	requireInOrder(t, h.sink.Entries(), "a", "b", "c")
}

// TestRotationsWhileStoppedCompressed: while sonde is stopped the kubelet rotates twice and
// compresses the older rotation (the file sonde was reading). No file of the stream that
// sonde knew is left, yet the stream has a position: the newer rotation and the live file
// are read whole. (The compressed file is never read: what sonde had not read of it is the
// one loss, as the kubelet gives no uncompressed copy of it.)
func TestRotationsWhileStoppedCompressed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ns_pod_uid", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	log := filepath.Join(dir, "0.log")
	args := testArgs(filepath.Join(dir, "*.log"))
	writeLines(t, log, "a", 0, 50)
	data := runUntilCommitted(t, args, log, 50)

	rotate(t, log, "20240305-070809")
	writeLines(t, log, "b", 0, 420)
	rotate(t, log, "20240305-080809")
	require.NoError(t, os.Rename(log+".20240305-070809", log+".20240305-070809.gz"))
	writeLines(t, log, "c", 0, 21)

	h := start(t, args, data, nil)
	want := append(expectLines("b", 0, 420), expectLines("c", 0, 21)...)
	requireExactlyOnce(t, want, waitMarker(t, h, "c-000020"))
	requireInOrder(t, h.sink.Entries(), "b", "c")
}

// TestNewContainerRotatedWhileStopped: a container starts and its log is rotated while sonde
// is stopped. Its stream has no position, but sonde ran before and the rotation was made
// after the positions file was last written: it is read whole, then the live file.
func TestNewContainerRotatedWhileStopped(t *testing.T) {
	root := t.TempDir()
	old := filepath.Join(root, "ns_old_uid1", "c")
	require.NoError(t, os.MkdirAll(old, 0o755))
	writeLines(t, filepath.Join(old, "0.log"), "o", 0, 10)
	args := testArgs(filepath.Join(root, "*", "c", "*.log"))
	data := runUntilCommitted(t, args, filepath.Join(old, "0.log"), 10)

	dir := filepath.Join(root, "ns_new_uid2", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	log := filepath.Join(dir, "0.log")
	writeLines(t, log, "b", 0, 300)
	rotate(t, log, "20240305-080809")
	writeLines(t, log, "c", 0, 21)

	h := start(t, args, data, nil)
	want := append(expectLines("b", 0, 300), expectLines("c", 0, 21)...)
	requireExactlyOnce(t, want, waitMarker(t, h, "c-000020"))
	requireInOrder(t, h.sink.Entries(), "b", "c")
}

// TestStartAtEndAfterRotationWhileStopped: with start_at: end, a live file made by a
// rotation while sonde was stopped is read from its start: its stream has a position, so it
// is not a file older than sonde.
func TestStartAtEndAfterRotationWhileStopped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ns_pod_uid", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	log := filepath.Join(dir, "0.log")
	args := testArgs(filepath.Join(dir, "*.log"))
	args.StartAt = StartAtEnd
	h1 := start(t, args, "", nil)
	writeLines(t, log, "a", 0, 50) // appears after start: read whole
	waitLines(t, h1.sink, 50)
	fi, err := os.Stat(log)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readPositions(t, h1.opts.DataPath)[log] == fi.Size() },
		10*time.Second, 5*time.Millisecond)
	h1.stop()

	writeLines(t, log, "a", 50, 60)
	rotate(t, log, "20240305-070809")
	writeLines(t, log, "c", 0, 20)

	h := start(t, args, h1.opts.DataPath, nil)
	writeLines(t, log, "c", 20, 21) // a marker
	want := append(expectLines("a", 50, 60), expectLines("c", 0, 21)...)
	requireExactlyOnce(t, want, waitMarker(t, h, "c-000020"))
	requireInOrder(t, h.sink.Entries(), "a", "c")
}

// TestOldRotationStaysLeftAloneAcrossRestarts: a rotation already there at the first start
// (older than sonde) is left alone at later starts too, also when the file sonde read was
// rotated while it was stopped: it is older than a file sonde knew.
func TestOldRotationStaysLeftAloneAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ns_pod_uid", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	log := filepath.Join(dir, "0.log")
	writeLines(t, log+".20240305-060000", "o", 0, 10)
	writeLines(t, log, "a", 0, 10)
	args := testArgs(filepath.Join(dir, "*.log"))
	data := runUntilCommitted(t, args, log, 10)

	// A restart without rotation.
	h2 := start(t, args, data, nil)
	writeLines(t, log, "a", 10, 11)
	requireExactlyOnce(t, expectLines("a", 10, 11), waitMarker(t, h2, "a-000010"))
	h2.stop()

	// A restart after a rotation while stopped.
	writeLines(t, log, "a", 11, 20)
	rotate(t, log, "20240305-070809")
	writeLines(t, log, "c", 0, 1)
	h3 := start(t, args, data, nil)
	requireExactlyOnce(t, append(expectLines("a", 11, 20), "c-000000"), waitMarker(t, h3, "c-000000"))
}
