package journal

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/config"
	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/sondehq/sonde/exporters/loki/write"
	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// runAgent runs loki.source.journal → loki.write under a real controller, as sonde runs
// them, with its data in dataPath; the returned func stops it.
func runAgent(t *testing.T, journalDir, pushURL, dataPath string) (stop func()) {
	t.Helper()
	yml := fmt.Sprintf(`
components:
  loki.source.journal/node:
    path: %q
    matches: _SYSTEMD_UNIT=kubelet.service
    forward_to: [loki.write/default]
  loki.write/default:
    endpoints:
      - url: %q
        batch_wait: 100ms
`, journalDir, pushURL)
	reg, err := pipeline.NewRegistry(Registration, write.Registration)
	require.NoError(t, err)
	f, err := config.Parse("agent.yaml", []byte(yml), reg, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	logs := &pipelinetest.LogBuffer{}
	c := pipeline.NewController(pipeline.ControllerOptions{
		Registry: reg, Logger: logs.Logger(slog.LevelInfo), Registerer: prometheus.NewRegistry(), DataPath: dataPath,
		ShutdownTimeout: 10 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("agent logged:\n%s", logs.String())
		}
	})
	require.NoError(t, c.Apply(f.Specs))
	return stop
}

// Against a real Loki: kubelet's journal entries are stored with their time and the labels
// job, unit and level; across a restart of the agent each entry is stored once.
func TestLokiHoldsJournalEntries(t *testing.T) {
	backendtest.SkipShort(t, "a real Loki")
	loki := lokitest.Start(t)
	dir, data := t.TempDir(), t.TempDir()
	at := ago(3)
	writeJournal(t, dir, at,
		fields{"MESSAGE": "kubelet started", "_SYSTEMD_UNIT": "kubelet.service", "PRIORITY": "6"},
		fields{"MESSAGE": "containerd started", "_SYSTEMD_UNIT": "containerd.service", "PRIORITY": "6"},
		fields{"MESSAGE": "PLEG is not healthy", "_SYSTEMD_UNIT": "kubelet.service", "PRIORITY": "3"},
	)
	stop := runAgent(t, dir, loki.PushURL(), data)
	query := `{job="loki.source.journal.node"}`
	from, to := at[0].Add(-time.Minute), time.Now().Add(time.Minute)
	loki.WaitEntries(t, query, from, to, 2, time.Minute)
	// The cursor is saved once Loki acknowledged (loki.write acks after the push).
	require.Eventually(t, func() bool {
		return savedCursorOf(t, filepath.Join(data, "loki.source.journal", "node")).Cursor != ""
	}, 30*time.Second, 10*time.Millisecond)
	stop()

	later := ago(1)
	writeJournal(t, dir, later, fields{"MESSAGE": "kubelet restarted", "_SYSTEMD_UNIT": "kubelet.service", "PRIORITY": "5"})
	runAgent(t, dir, loki.PushURL(), data)
	streams := loki.WaitEntries(t, query, from, to, 3, time.Minute)

	got := map[string]int{}
	for _, s := range streams {
		for _, e := range s.Entries {
			got[e.Line]++
			var want time.Time
			var level string
			switch e.Line {
			case "kubelet started":
				want, level = at[0], "info"
			case "PLEG is not healthy":
				want, level = at[2], "error"
			case "kubelet restarted":
				want, level = later[0], "notice"
			}
			require.True(t, e.Timestamp.Equal(want), "%s at %s, want %s", e.Line, e.Timestamp, want)
			require.Equal(t, map[string]string{"job": "loki.source.journal.node", "unit": "kubelet.service", "level": level}, s.Labels)
		}
	}
	require.Equal(t, map[string]int{"kubelet started": 1, "PLEG is not healthy": 1, "kubelet restarted": 1}, got)
}
