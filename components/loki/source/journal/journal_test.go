package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestLifecycle(t *testing.T) {
	pipelinetest.Lifecycle(t, Registration, testArgs(t.TempDir()), nil)
}

// Entries of a real journal file arrive with MESSAGE as the line, the entry's time, and the
// labels job, unit and level; entries older than max_age do not; entries appended while
// following do.
func TestForwardsJournalEntries(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Microsecond)
	at := []time.Time{now.Add(-8 * time.Hour), now.Add(-3 * time.Second), now.Add(-2 * time.Second), now.Add(-time.Second), now.Add(-time.Second / 2)}
	writeJournal(t, dir, at,
		fields{"MESSAGE": "too old", "_SYSTEMD_UNIT": "kubelet.service", "PRIORITY": "6"},
		fields{"MESSAGE": "Started kubelet", "_SYSTEMD_UNIT": "kubelet.service", "PRIORITY": "6", "_HOSTNAME": "node-1"},
		fields{"MESSAGE": "failed to pull image", "_SYSTEMD_UNIT": "containerd.service", "PRIORITY": "3"},
		fields{"_SYSTEMD_UNIT": "kubelet.service", "CODE_FUNC": "no message"},
		fields{"MESSAGE": "bin\x01ary\xff", "SYSLOG_IDENTIFIER": "kernel"},
	)
	h := start(t, testArgs(dir), "", nil)
	require.Equal(t, []string{"Started kubelet", "failed to pull image", "bin\x01ary\uFFFD"}, h.waitLines(t, 3))

	entries := h.host.LogsSink.Entries()
	job := model.LabelValue("loki.source.journal.test")
	require.Equal(t, model.LabelSet{"job": job, "unit": "kubelet.service", "level": "info"}, entries[0].Labels)
	require.Equal(t, model.LabelSet{"job": job, "unit": "containerd.service", "level": "error"}, entries[1].Labels)
	require.Equal(t, model.LabelSet{"job": job}, entries[2].Labels)
	for i, e := range entries {
		require.True(t, e.Timestamp.Equal(at[[]int{1, 2, 4}[i]]), "entry %d at %s, want %s", i, e.Timestamp, at[i+1])
	}
	require.Equal(t, 1.0, h.metric(t, "sonde_loki_source_journal_skipped_total", "reason", skipNoMessage))
	require.Equal(t, 1.0, h.metric(t, "sonde_loki_source_journal_binary_fields_total"))
	require.Equal(t, 4.0, h.metric(t, "sonde_loki_source_journal_entries_read_total"), "the entry older than max_age is not read")

	// Followed: entries appended to the journal arrive.
	writeJournal(t, dir, ago(2), fields{"MESSAGE": "later 1", "_SYSTEMD_UNIT": "kubelet.service"}, fields{"MESSAGE": "later 2"})
	require.Equal(t, []string{"later 1", "later 2"}, h.waitLines(t, 5)[3:])
	require.Eventually(t, func() bool {
		return h.opts.Health.Get().State == pipeline.HealthHealthy
	}, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, h.opts.Health.Get().Message, dir)
}

// A restart resumes after the last acknowledged entry: what was delivered is not sent again,
// what was written meanwhile is; what was read but not acknowledged is sent again.
func TestRestartResumesFromCursor(t *testing.T) {
	dir := t.TempDir()
	writeJournal(t, dir, ago(3), fields{"MESSAGE": "a0"}, fields{"MESSAGE": "a1"}, fields{"MESSAGE": "a2"})
	h1 := start(t, testArgs(dir), "", nil)
	require.Equal(t, seqs("a", 0, 3), h1.waitLines(t, 3))
	require.Eventually(t, func() bool { return savedCursorOf(t, h1.opts.DataPath).Cursor != "" }, 10*time.Second, 5*time.Millisecond)
	h1.stop()
	saved := savedCursorOf(t, h1.opts.DataPath)
	require.Equal(t, dir, saved.Path)

	// Written while stopped: only these arrive after the restart.
	writeJournal(t, dir, ago(2), fields{"MESSAGE": "b0"}, fields{"MESSAGE": "b1"})
	h2 := start(t, testArgs(dir), h1.opts.DataPath, nil)
	require.Equal(t, seqs("b", 0, 2), h2.waitLines(t, 2))

	// Read but never acknowledged: read again after a restart.
	h2.host.LogsSink.Hold(true)
	writeJournal(t, dir, ago(1), fields{"MESSAGE": "c0"})
	require.Equal(t, []string{"b0", "b1", "c0"}, h2.waitLines(t, 3))
	h2.stop()
	require.NotEqual(t, saved.Cursor, savedCursorOf(t, h1.opts.DataPath).Cursor, "b1 was acknowledged")

	h3 := start(t, testArgs(dir), h1.opts.DataPath, nil)
	require.Equal(t, []string{"c0"}, h3.waitLines(t, 1))
	writeJournal(t, dir, ago(1), fields{"MESSAGE": "d0"})
	require.Equal(t, []string{"c0", "d0"}, h3.waitLines(t, 2), "nothing delivered is sent twice")
}

// matches filter the entries as journalctl's matches do; labels_from_fields and labels set
// the labels; format_as_json sends every field.
func TestMatchesLabelsAndJSON(t *testing.T) {
	dir := t.TempDir()
	writeJournal(t, dir, ago(3),
		fields{"MESSAGE": "kubelet line", "_SYSTEMD_UNIT": "kubelet.service", "PRIORITY": "4", "_HOSTNAME": "node-1", "SYSLOG_IDENTIFIER": "kubelet", "_TRANSPORT": "stdout"},
		fields{"MESSAGE": "containerd line", "_SYSTEMD_UNIT": "containerd.service"},
		fields{"MESSAGE": "other line", "_SYSTEMD_UNIT": "ssh.service"},
	)
	t.Run("matches", func(t *testing.T) {
		args := testArgs(dir)
		args.Matches = "_SYSTEMD_UNIT=kubelet.service + _SYSTEMD_UNIT=ssh.service"
		h := start(t, args, "", nil)
		require.Equal(t, []string{"kubelet line", "other line"}, h.waitLines(t, 2))
		require.Equal(t, 2.0, h.metric(t, "sonde_loki_source_journal_entries_read_total"))
	})
	t.Run("labels and json", func(t *testing.T) {
		args := testArgs(dir)
		args.Matches = "_SYSTEMD_UNIT=kubelet.service"
		args.FormatAsJSON = true
		args.LabelsFromFields = []string{LabelUnit, LabelLevel, LabelHostname, LabelSyslogIdentifier, LabelTransport}
		args.Labels = map[string]string{"job": "integrations/kubernetes/journal", "cluster": "c1"}
		h := start(t, args, "", nil)
		h.waitLines(t, 1)
		e := h.host.LogsSink.Entries()[0]
		require.Equal(t, model.LabelSet{
			"job": "integrations/kubernetes/journal", "cluster": "c1", "unit": "kubelet.service", "level": "warning",
			"hostname": "node-1", "syslog_identifier": "kubelet", "transport": "stdout",
		}, e.Labels)
		require.True(t, strings.HasPrefix(e.Line, `{"MESSAGE":"kubelet line","PRIORITY":"4","SYSLOG_IDENTIFIER":"kubelet",`), e.Line)
		require.Contains(t, e.Line, `"__CURSOR":"s=`)
		require.Contains(t, e.Line, `"_SYSTEMD_UNIT":"kubelet.service"`)
	})
}

// Without journalctl the component says so in its health, and stops cleanly.
func TestJournalctlMissing(t *testing.T) {
	args := testArgs(t.TempDir())
	args.Journalctl = filepath.Join(t.TempDir(), "journalctl")
	h := start(t, args, "", nil)
	require.Eventually(t, func() bool { return h.opts.Health.Get().State == pipeline.HealthUnhealthy }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, h.opts.Health.Get().Message, "journalctl not found")
	require.Contains(t, h.opts.Health.Get().Message, args.Journalctl)
	h.stop()
}

// journalctl failing again and again (here: no such journal) makes the component
// unhealthy with journalctl's own message; it keeps trying.
func TestJournalctlFailsRepeatedly(t *testing.T) {
	args := testArgs(filepath.Join(t.TempDir(), "missing"))
	h := start(t, args, "", nil)
	require.Eventually(t, func() bool { return h.opts.Health.Get().State == pipeline.HealthUnhealthy }, 10*time.Second, 5*time.Millisecond)
	msg := h.opts.Health.Get().Message
	require.Contains(t, msg, "journalctl exited 3 times in a row")
	require.Contains(t, msg, "No such file or directory")
	require.Eventually(t, func() bool { return h.metric(t, "sonde_loki_source_journal_journalctl_exits_total") > 3 }, 10*time.Second, 5*time.Millisecond)
}

// Output that is not an entry is counted and skipped, not fatal (a stand-in journalctl
// prints it: the real one does not).
func TestMalformedOutputCounted(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "journalctl")
	script := `#!/bin/sh
echo 'not json'
echo '{"MESSAGE":"no cursor"}'
echo '{"MESSAGE":[1,2,"x"]}'
echo '{"MESSAGE":"good","__CURSOR":"s=1;i=1","__REALTIME_TIMESTAMP":"1700000000000000"}'
exec sleep 60
`
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	args := testArgs(t.TempDir())
	args.Journalctl = bin
	h := start(t, args, "", nil)
	require.Equal(t, []string{"good"}, h.waitLines(t, 1))
	require.Equal(t, time.UnixMicro(1700000000000000), h.host.LogsSink.Entries()[0].Timestamp)
	require.Equal(t, 3.0, h.metric(t, "sonde_loki_source_journal_skipped_total", "reason", skipMalformed))
}

// A cursor journalctl refuses (a damaged cursor file) falls back to max_age.
func TestRefusedCursorReadsFromMaxAge(t *testing.T) {
	dir := t.TempDir()
	writeJournal(t, dir, ago(1), fields{"MESSAGE": "x0"})
	data := filepath.Join(t.TempDir(), "data")
	require.NoError(t, saveCursor(data, dir, position{cursor: "garbage", time: time.Now()}))
	h := start(t, testArgs(dir), data, nil)
	require.Equal(t, []string{"x0"}, h.waitLines(t, 1))
	require.Eventually(t, func() bool { return strings.HasPrefix(savedCursorOf(t, data).Cursor, "s=") }, 10*time.Second, 5*time.Millisecond)
}

// A journal directory without files yet is followed: the entries of a file created later
// arrive.
func TestEmptyDirectoryFollowed(t *testing.T) {
	dir := t.TempDir()
	h := start(t, testArgs(dir), "", nil)
	require.Eventually(t, func() bool { return h.c.DebugInfo().(Info).Running }, 10*time.Second, 5*time.Millisecond)
	writeJournal(t, dir, ago(1), fields{"MESSAGE": "first"})
	require.Equal(t, []string{"first"}, h.waitLines(t, 1))
	require.Zero(t, h.metric(t, "sonde_loki_source_journal_journalctl_exits_total"))
}
