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

// runUntilCommitted runs a first component, writes lines prefix-0 … prefix-<n-1> to log,
// waits until they are committed, then stops it; it returns the data path.
func runUntilCommitted(t *testing.T, args *Arguments, log, prefix string, n int) string {
	t.Helper()
	h := startCommitted(t, args, log, prefix, n)
	h.stop()
	return h.opts.DataPath
}

// startCommitted runs a first component, writes lines prefix-0 … prefix-<n-1> to log and
// waits until they are committed.
func startCommitted(t *testing.T, args *Arguments, log, prefix string, n int) *harness {
	t.Helper()
	h := start(t, args, "", nil)
	writeLines(t, log, prefix, 0, n)
	waitLines(t, h.sink, n)
	fi, err := os.Stat(log)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readPositions(t, h.opts.DataPath)[log] == fi.Size() },
		10*time.Second, 5*time.Millisecond)
	return h
}

// restartExpect starts a component on data, writes a marker line (z-000000) to log,
// checks that exactly want and the marker arrive, the lines of each of prefixes (their
// first letter) before those of the next, and stops the component.
func restartExpect(t *testing.T, args *Arguments, data, log string, want []string, prefixes ...string) {
	t.Helper()
	h := start(t, args, data, nil)
	writeLines(t, log, "z", 0, 1) // once it is in, nothing else is pending
	requireExactlyOnce(t, append(want, "z-000000"), waitMarker(t, h, "z-000000"))
	requireInOrder(t, h.sink.Entries(), append(prefixes, "z")...)
	h.stop()
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
	log, args := podLog(t)
	data := runUntilCommitted(t, args, log, "a", 50)

	writeLines(t, log, "a", 50, 80) // while sonde is down
	rotate(t, log, "20240305-070809")
	writeLines(t, log, "b", 0, 420)
	rotate(t, log, "20240305-080809")
	writeLines(t, log, "c", 0, 20)

	want := append(append(expectLines("a", 50, 80), expectLines("b", 0, 420)...), expectLines("c", 0, 20)...)
	restartExpect(t, args, data, log, want, "a", "b", "c")
}

// TestRotationsWhileStoppedCompressed: while sonde is stopped the kubelet rotates twice and
// compresses the older rotation (the file sonde was reading, and had read to its end). No
// uncompressed file of the stream that sonde knew is left, yet the stream has a position:
// the newer rotation and the live file are read whole. The .gz holds nothing sonde had not
// delivered, and nothing of it is sent again (TestCompressedWhileStopped has it hold lines
// sonde had not delivered).
func TestRotationsWhileStoppedCompressed(t *testing.T) {
	log, args := podLog(t)
	data := runUntilCommitted(t, args, log, "a", 50)

	rotate(t, log, "20240305-070809")
	writeLines(t, log, "b", 0, 420)
	Compress(t, log+".20240305-070809")
	rotate(t, log, "20240305-080809")
	writeLines(t, log, "c", 0, 20)

	restartExpect(t, args, data, log, append(expectLines("b", 0, 420), expectLines("c", 0, 20)...), "b", "c")
}

// TestNewContainerRotatedWhileStopped: a container starts and its log is rotated while sonde
// is stopped. Its stream has no position, but sonde ran before and the rotation was made
// after the positions file was last written: it is read whole, then the live file.
func TestNewContainerRotatedWhileStopped(t *testing.T) {
	root := t.TempDir()
	old := filepath.Join(root, "ns_old_uid1", "c")
	require.NoError(t, os.MkdirAll(old, 0o755))
	args := testArgs(filepath.Join(root, "*", "c", "*.log"))
	data := runUntilCommitted(t, args, filepath.Join(old, "0.log"), "o", 10)

	dir := filepath.Join(root, "ns_new_uid2", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	log := filepath.Join(dir, "0.log")
	writeLines(t, log, "b", 0, 300)
	rotate(t, log, "20240305-080809")
	writeLines(t, log, "c", 0, 20)

	restartExpect(t, args, data, log, append(expectLines("b", 0, 300), expectLines("c", 0, 20)...), "b", "c")
}

// TestStartAtEndAfterRotationWhileStopped: with start_at: end, a live file made by a
// rotation while sonde was stopped is read from its start: its stream has a position, so it
// is not a file older than sonde.
func TestStartAtEndAfterRotationWhileStopped(t *testing.T) {
	log, args := podLog(t)
	args.StartAt = StartAtEnd
	data := runUntilCommitted(t, args, log, "a", 50) // written after the start: read whole

	writeLines(t, log, "a", 50, 60)
	rotate(t, log, "20240305-070809")
	writeLines(t, log, "c", 0, 20)

	restartExpect(t, args, data, log, append(expectLines("a", 50, 60), expectLines("c", 0, 20)...), "a", "c")
}

// TestOldRotationStaysLeftAloneAcrossRestarts: a rotation already there at the first start
// (older than sonde) is left alone at later starts too, also when the file sonde read was
// rotated while it was stopped: it is older than a file sonde knew. In the second restart
// the live file does not exist yet at start-up (the runtime has not reopened it): the
// stream is first seen when it does, with the same rules.
func TestOldRotationStaysLeftAloneAcrossRestarts(t *testing.T) {
	log, args := podLog(t)
	writeLines(t, log+".20240305-060000", "o", 0, 10)
	writeLines(t, log, "a", 0, 10)
	data := runUntilCommitted(t, args, log, "a", 10)

	restartExpect(t, args, data, log, expectLines("a", 10, 10)) // a restart without rotation

	writeLines(t, log, "a", 20, 30)
	rotate(t, log, "20240305-070809")
	restartExpect(t, args, data, log, expectLines("a", 20, 30), "a") // and after a rotation, the marker in a new 0.log
}

// podLog returns the path of a container log under a kubelet-like directory, and arguments
// tailing its directory.
func podLog(t *testing.T) (string, *Arguments) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ns_pod_uid", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return filepath.Join(dir, "0.log"), testArgs(filepath.Join(dir, "*.log"))
}

// TestNewContainerRotatedBeforeFound: at the first start (no positions file), a container
// appears and is rotated before sonde looks at its directory: the rotation was made after
// the start, so it is read whole, before the live file.
func TestNewContainerRotatedBeforeFound(t *testing.T) {
	root := t.TempDir()
	args := testArgs(filepath.Join(root, "*", "c", "*.log"))
	h := start(t, args, "", nil)
	time.Sleep(50 * time.Millisecond) // past the filesystem clock's tick of the start

	dir := filepath.Join(root, "ns_new_uid", "c")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	log := filepath.Join(dir, "0.log")
	writeLines(t, log, "b", 0, 100)
	rotate(t, log, "20240305-080809")
	writeLines(t, log, "c", 0, 21)
	requireExactlyOnce(t, append(expectLines("b", 0, 100), expectLines("c", 0, 21)...), waitMarker(t, h, "c-000020"))
	requireInOrder(t, h.sink.Entries(), "b", "c")
}
