package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
)

// criLog appends CRI-formatted lines to a kubelet-style container log and rotates it the
// way the kubelet does.
type criLog struct {
	t    *testing.T
	path string
	f    *os.File
	n    int
	ts   time.Time
	want map[string]time.Time // line -> container timestamp
}

func newCRILog(t *testing.T, dir string) *criLog {
	require.NoError(t, os.MkdirAll(dir, 0o755))
	l := &criLog{t: t, path: filepath.Join(dir, "0.log"), ts: time.Now().Add(-time.Minute).UTC(), want: map[string]time.Time{}}
	l.open()
	t.Cleanup(func() { l.f.Close() })
	return l
}

func (l *criLog) open() {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(l.t, err)
	l.f = f
}

// write appends n lines; every tenth is split into a P fragment and its F.
func (l *criLog) write(n int) {
	for range n {
		l.n++
		l.ts = l.ts.Add(time.Millisecond)
		line := fmt.Sprintf("line %06d with \"quotes\" and unicode é", l.n)
		stamp := l.ts.Format(time.RFC3339Nano)
		var err error
		if l.n%10 == 0 {
			_, err = fmt.Fprintf(l.f, "%s stdout P %s\n%s stdout F %s\n", stamp, line[:7], stamp, line[7:])
		} else {
			_, err = fmt.Fprintf(l.f, "%s stdout F %s\n", stamp, line)
		}
		require.NoError(l.t, err)
		l.want[line] = l.ts
	}
}

// rotate renames 0.log to 0.log.<timestamp> and starts a new 0.log, as the kubelet does.
func (l *criLog) rotate() {
	require.NoError(l.t, l.f.Close())
	require.NoError(l.t, os.Rename(l.path, l.path+"."+time.Now().UTC().Format("20060102-150405")))
	l.open()
}

// TestE2ELogsToLoki: container log lines reach a real Loki exactly once, labelled from the
// /var/log/pods layout and stamped with the container's own timestamps, across a kubelet
// rotation, a Loki restart and a SIGKILL of sonde.
func TestE2ELogsToLoki(t *testing.T) {
	loki := lokitest.Start(t)
	pods := t.TempDir()
	log := newCRILog(t, filepath.Join(pods, "shop_web-1_0d8f3c2a-1111-2222-3333-444455556666", "nginx"))
	s := newSonde(t, "--config="+writeConfig(t, fmt.Sprintf(`
components:
  loki.source.file/pods:
    paths: [%q]
    path_labels: kubernetes
    format: auto
    batch_wait: 200ms
    forward_to: [loki.write/default]
  loki.write/default:
    endpoints:
      - url: %s
        batch_wait: 200ms
        min_backoff: 100ms
        max_backoff: 1s
`, pods+"/*/*/*.log", loki.PushURL())))
	start := time.Now().Add(-2 * time.Minute)

	log.write(2000)
	log.rotate()
	log.write(2000)

	loki.Stop()
	log.write(1000) // written while Loki is down
	loki.Restart()

	time.Sleep(2 * time.Second)
	s.proc.Kill()
	log.write(1000) // written while sonde is dead
	log.rotate()
	log.write(500)
	s.start()

	total := len(log.want)
	require.Equal(t, 6500, total)
	query := `{namespace="shop", pod="web-1", container="nginx"}`
	streams := loki.WaitEntries(t, query, start, time.Now().Add(time.Minute), total, 3*time.Minute)

	got := map[string]int{}
	for _, st := range streams {
		require.Equal(t, map[string]string{
			"namespace": "shop", "pod": "web-1", "container": "nginx", "stream": "stdout", "job": "shop/web-1",
		}, st.Labels)
		for _, e := range st.Entries {
			got[e.Line]++
			want, ok := log.want[e.Line]
			require.True(t, ok, "unexpected line %q", e.Line)
			require.True(t, want.Equal(e.Timestamp), "line %q: timestamp %s, want the container's %s", e.Line, e.Timestamp, want)
			require.Equal(t, "0d8f3c2a-1111-2222-3333-444455556666", e.StructuredMetadata["uid"])
		}
	}
	for line := range log.want {
		require.Equal(t, 1, got[line], "line %q", line)
	}
}
