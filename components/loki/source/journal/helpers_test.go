package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func init() {
	batchWait = 20 * time.Millisecond
	retryMin, retryMax = 20*time.Millisecond, 100*time.Millisecond
	saveInterval = 10 * time.Millisecond
}

// journalRemote converts the journal export format into a journal file (Debian's
// systemd-journal-remote, installed by `make deps-deb`).
const journalRemote = "/lib/systemd/systemd-journal-remote"

const bootID = "0123456789abcdef0123456789abcdef"

// monotonic numbers the entries written, so that each has its own __MONOTONIC_TIMESTAMP.
var monotonic atomic.Int64

// fields is one entry to write: its journal fields (MESSAGE, _SYSTEMD_UNIT, …).
type fields map[string]string

// writeJournal appends entries, each at its time, to the journal file dir/remote.journal
// (created if needed), through systemd-journal-remote.
func writeJournal(t *testing.T, dir string, at []time.Time, entries ...fields) {
	t.Helper()
	require.FileExists(t, journalRemote, "make deps-deb installs systemd-journal-remote")
	require.Len(t, at, len(entries))
	var export bytes.Buffer
	for i, e := range entries {
		fmt.Fprintf(&export, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n",
			at[i].UnixMicro(), monotonic.Add(1), bootID)
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := e[k]
			if isText(v) {
				fmt.Fprintf(&export, "%s=%s\n", k, v)
				continue
			}
			// The export format's binary form: the name, a newline, the size (64-bit
			// little endian), the bytes, a newline.
			export.WriteString(k + "\n")
			_ = binary.Write(&export, binary.LittleEndian, uint64(len(v)))
			export.WriteString(v + "\n")
		}
		export.WriteString("\n")
	}
	cmd := exec.Command(journalRemote, "-o", filepath.Join(dir, "remote.journal"), "-")
	cmd.Stdin = &export
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-journal-remote: %s", out)
}

func isText(s string) bool {
	for _, r := range []byte(s) {
		if r < 0x20 || r >= 0x7f {
			return false
		}
	}
	return true
}

// ago returns n times spread over the last seconds (oldest first).
func ago(n int) []time.Time {
	now := time.Now().Truncate(time.Microsecond)
	out := make([]time.Time, n)
	for i := range out {
		out[i] = now.Add(time.Duration(i-n) * time.Millisecond)
	}
	return out
}

// testArgs reads the journal in dir and forwards to a test sink.
func testArgs(dir string) *Arguments {
	a := DefaultArguments()
	a.Path = dir
	a.ForwardTo = []string{"loki.write/test"}
	return a
}

// harness is one component under test.
type harness struct {
	c    *Component
	host *pipelinetest.Host
	opts pipeline.Options
	stop func()
}

// start runs a loki.source.journal/test with args, keeping its data in dataPath ("" for a
// new directory) and sending to host's sink (nil for a new host).
func start(t *testing.T, args *Arguments, dataPath string, host *pipelinetest.Host) *harness {
	t.Helper()
	require.NoError(t, args.Validate())
	if host == nil {
		host = pipelinetest.NewHost()
	}
	opts := pipelinetest.Options(t, "loki.source.journal/test", host)
	if dataPath != "" {
		opts.DataPath = dataPath
	}
	c, err := New(opts, args)
	require.NoError(t, err)
	c.flushTimeout = 3 * time.Second
	return &harness{c: c, host: host, opts: opts, stop: pipelinetest.Run(t, c)}
}

// lines returns the lines received, in order.
func (h *harness) lines() []string {
	var out []string
	for _, e := range h.host.LogsSink.Entries() {
		out = append(out, e.Line)
	}
	return out
}

// waitLines waits until n lines arrived and returns them.
func (h *harness) waitLines(t *testing.T, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(h.lines()) >= n }, 20*time.Second, 5*time.Millisecond,
		"waiting for %d lines, got %q", n, h.lines())
	return h.lines()
}

// metric returns the value of one of the component's metrics.
func (h *harness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return pipelinetest.MetricValue(t, h.opts.Registerer.(prometheus.Gatherer), name, labels...)
}

// savedCursorOf reads the cursor file in dataPath.
func savedCursorOf(t *testing.T, dataPath string) savedCursor {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataPath, cursorFile))
	if os.IsNotExist(err) {
		return savedCursor{}
	}
	require.NoError(t, err)
	var out savedCursor
	for _, l := range bytes.Split(data, []byte("\n")) {
		if bytes.Contains(l, []byte(`"cursor"`)) {
			require.NoError(t, json.Unmarshal(l, &out))
		}
	}
	return out
}

func seqs(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}
