package file_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/loki/source/file"
	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/exporters/loki/write"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// agent is loki.source.file → loki.write under a real controller, as sonde runs them.
type agent struct {
	reg    *prometheus.Registry
	logs   *pipelinetest.LogBuffer
	cancel context.CancelFunc
	done   chan struct{}
}

// startAgent tails dir/*.log into Loki at pushURL, with its state under data. loki.write
// holds a batch for 2 s (batch_wait): a stop comes while it still has the last lines.
func startAgent(t *testing.T, dir, data, pushURL string) *agent {
	t.Helper()
	yml := fmt.Sprintf(`
components:
  loki.source.file/f:
    paths: [%q]
    labels: {job: restart}
    batch_wait: 10ms
    forward_to: [loki.write/w]
  loki.write/w:
    endpoints:
      - url: %q
        batch_wait: 2s
`, filepath.Join(dir, "*.log"), pushURL)
	reg, err := pipeline.NewRegistry(file.Registration, write.Registration)
	require.NoError(t, err)
	f, err := config.Parse("agent.yaml", []byte(yml), reg, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	a := &agent{reg: prometheus.NewRegistry(), logs: &pipelinetest.LogBuffer{}, done: make(chan struct{})}
	c := pipeline.NewController(pipeline.ControllerOptions{
		Registry: reg, Logger: a.logs.Logger(slog.LevelInfo), Registerer: a.reg, DataPath: data,
		ShutdownTimeout: 10 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { c.Run(ctx); close(a.done) }()
	t.Cleanup(func() { cancel(); <-a.done })
	require.NoError(t, c.Apply(f.Specs))
	return a
}

// handed returns how many entries loki.source.file handed to loki.write.
func (a *agent) handed(t *testing.T) float64 {
	t.Helper()
	return pipelinetest.MetricSum(t, a.reg, "sonde_loki_source_file_entries_sent_total")
}

// stop ends the controller's Run (SIGTERM) and returns how long the shutdown took.
func (a *agent) stop() time.Duration {
	began := time.Now()
	a.cancel()
	<-a.done
	return time.Since(began)
}

// lokiCase is a real Loki, a log file in a directory the agent tails, and the agent's data
// directory, which survives its restarts.
type lokiCase struct {
	loki           *lokitest.Loki
	dir, data, log string
	begin          time.Time // before every line written
}

func newLokiCase(t *testing.T, name string) *lokiCase {
	t.Helper()
	dir := t.TempDir()
	return &lokiCase{loki: lokitest.Start(t), dir: dir, data: t.TempDir(), log: filepath.Join(dir, name), begin: time.Now().Add(-time.Minute)}
}

// agent starts an agent (again) on the case's directories.
func (lc *lokiCase) agent(t *testing.T) *agent {
	t.Helper()
	return startAgent(t, lc.dir, lc.data, lc.loki.PushURL())
}

// inLoki waits until Loki holds at least want entries of the agent's streams, and returns
// how many times it holds each line.
func (lc *lokiCase) inLoki(t *testing.T, want int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, s := range lc.loki.WaitEntries(t, `{job="restart"}`, lc.begin, time.Now().Add(time.Minute), want, 60*time.Second) {
		for _, e := range s.Entries {
			counts[e.Line]++
		}
	}
	return counts
}

// requireEachOnce checks that counts holds n lines, each once.
func requireEachOnce(t *testing.T, counts map[string]int, n int) {
	t.Helper()
	require.Len(t, counts, n, "every line is in Loki, and nothing else")
	for l, c := range counts {
		require.Equal(t, 1, c, "%s is in Loki %d times", l, c)
	}
}

// missing counts the lines <prefix>-0 … <prefix>-<n-1> of each prefix that counts lacks.
func missing(counts map[string]int, written map[string]int) int {
	lost := 0
	for prefix, n := range written {
		for i := range n {
			if counts[fmt.Sprintf("%s-%06d", prefix, i)] == 0 {
				lost++
			}
		}
	}
	return lost
}

func writeCRI(t *testing.T, path, prefix string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s stdout F %s-%06d\n", time.Now().UTC().Format(time.RFC3339Nano), prefix, i)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(b.String())
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// TestRestartAgainstLoki: sonde is stopped while loki.write still holds the last lines the
// source handed it. The source waits for their acknowledgement before saving its positions,
// so after a restart nothing is read and sent again (it sent the whole last batch again),
// and Loki holds every line once.
func TestRestartAgainstLoki(t *testing.T) {
	lc := newLokiCase(t, "app.log")
	const lines = 1000

	a1 := lc.agent(t)
	writeCRI(t, lc.log, "a", 0, lines)
	require.Eventually(t, func() bool { return a1.handed(t) == lines }, 30*time.Second, 5*time.Millisecond)
	took := a1.stop() // loki.write has not sent them yet
	t.Logf("first run stopped in %v (loki.write's last batch sent during the stop)", took.Round(time.Millisecond))
	require.Less(t, took, 10*time.Second, "within the shutdown budget")

	a2 := lc.agent(t)
	writeCRI(t, lc.log, "b", 0, 1) // a marker
	counts := lc.inLoki(t, lines+1)
	resent := a2.handed(t) - 1
	t.Logf("after the restart: %.0f lines sent again", resent)
	require.Zero(t, resent, "acknowledged lines are not sent again after the restart")
	requireEachOnce(t, counts, lines+1)
	a2.stop()
}

// TestRestartAgainstLokiDown: Loki is down when sonde is stopped. The stop ends within the
// shutdown budget with the lines not acknowledged (positions not moved past them); once
// Loki and sonde are back, every line is in Loki, once.
func TestRestartAgainstLokiDown(t *testing.T) {
	lc := newLokiCase(t, "app.log")
	const lines = 1000

	a1 := lc.agent(t)
	writeCRI(t, lc.log, "a", 0, lines/2)
	lc.inLoki(t, lines/2)
	lc.loki.Stop()
	writeCRI(t, lc.log, "a", lines/2, lines)
	require.Eventually(t, func() bool { return a1.handed(t) == lines }, 30*time.Second, 5*time.Millisecond)
	took := a1.stop()
	t.Logf("stopped with Loki down in %v (budget 10s)", took.Round(time.Millisecond))
	require.Less(t, took, 11*time.Second, "within the shutdown budget")
	require.NotContains(t, a1.logs.String(), "did not stop in time", "every component returned by the deadline")

	lc.loki.Restart()
	a2 := lc.agent(t)
	writeCRI(t, lc.log, "b", 0, 1) // a marker
	counts := lc.inLoki(t, lines+1)
	t.Logf("after the restart: %.0f lines sent again (the %d Loki never acknowledged, and the marker)", a2.handed(t), lines/2)
	requireEachOnce(t, counts, lines+1)
	a2.stop()
}

// TestRotationsWhileStoppedAgainstLoki: two rotations while sonde is stopped; after the
// restart, Loki holds every line once, the 420 of the file made and rotated while sonde was
// down included (they were lost).
func TestRotationsWhileStoppedAgainstLoki(t *testing.T) {
	rotationsWhileStopped(t, 420, false)
}

// TestCompressedWhileStoppedAgainstLoki: as TestRotationsWhileStoppedAgainstLoki, and the
// kubelet compresses the file sonde was reading at the second rotation: the 30 lines sonde
// had not read are only in the .gz (they were lost, and with them the 300 of the rotation
// made while sonde was down, whose new 0.log took the inode freed by the compression).
func TestCompressedWhileStoppedAgainstLoki(t *testing.T) {
	rotationsWhileStopped(t, 300, true)
}

// rotationsWhileStopped: sonde has delivered the first 50 lines of 0.log when it is
// stopped; while it is down 30 more are written, 0.log is rotated, middle lines go to the
// new 0.log, the kubelet compresses the first rotation (when compressed) and rotates again,
// and 20 lines go to the new 0.log. After the restart Loki holds every line once, and only
// what the first run had not sent is sent.
func rotationsWhileStopped(t *testing.T, middle int, compressed bool) {
	lc := newLokiCase(t, "0.log")

	a1 := lc.agent(t)
	writeCRI(t, lc.log, "a", 0, 50)
	lc.inLoki(t, 50)
	a1.stop()

	writeCRI(t, lc.log, "a", 50, 80)
	require.NoError(t, os.Rename(lc.log, lc.log+".20240305-070809"))
	writeCRI(t, lc.log, "b", 0, middle)
	if compressed {
		file.Compress(t, lc.log+".20240305-070809")
	}
	require.NoError(t, os.Rename(lc.log, lc.log+".20240305-080809"))
	writeCRI(t, lc.log, "c", 0, 20)

	a2 := lc.agent(t)
	total := 80 + middle + 20
	// The lines sent before and those of the live file, read last, are in Loki whatever
	// becomes of the others; then what is still to come comes within loki.write's batch_wait.
	lc.inLoki(t, 50+20)
	time.Sleep(3 * time.Second)
	counts := lc.inLoki(t, 0)
	lost := missing(counts, map[string]int{"a": 80, "b": middle, "c": 20})
	t.Logf("after two rotations while stopped (compressed: %v): %d of %d lines lost, %.0f sent after the restart",
		compressed, lost, total, a2.handed(t))
	require.Zero(t, lost)
	requireEachOnce(t, counts, total)
	require.Equal(t, float64(30+middle+20), a2.handed(t), "only what the first run had not sent")
	a2.stop()
}
