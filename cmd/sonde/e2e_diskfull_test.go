package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sondehq/sonde/exporters/backendtest"
	"github.com/stretchr/testify/require"
)

// TestFaultDiskFull: the storage path is a 2 MiB tmpfs and Prometheus is down, so the WAL
// fills it. sonde keeps running and healthy, and once Prometheus is back it delivers what
// fitted and what it scrapes from then on: the acknowledged data is deleted and appends
// resume, and with Prometheus up the disk does not fill again.
func TestFaultDiskFull(t *testing.T) {
	prom := backendtest.StartPrometheus(t)
	target := newWideTarget(t, 5000)
	s := newSonde(t, "--config="+writeConfig(t, outageConfig(target, prom.URL())))
	s.proc.Kill()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "sonde-test", s.storage).CombinedOutput()
	require.NoError(t, err, "mounting a small tmpfs needs root (make test runs as root): %s", out)
	t.Cleanup(func() { _ = exec.Command("umount", "-l", s.storage).Run() })
	s.start() // on the tmpfs
	prom.Stop()
	require.Eventually(t, func() bool { return diskFree(t, s.storage) < 64<<10 }, 3*time.Minute, time.Second,
		"the WAL never filled the tmpfs")
	time.Sleep(5 * time.Second) // scrapes keep coming with nowhere to write them
	code, _ := backendtest.Fetch(t, http.MethodGet, s.URL()+"/-/healthy")
	require.Equal(t, 200, code, "sonde is alive with its disk full")
	appended := s.metric(t, "sonde_remote_write_samples_appended_total")
	dropped := s.metric(t, "sonde_remote_write_samples_dropped_total")
	t.Logf("disk full: %d bytes free; %.0f samples in the WAL, %.0f dropped (counted)", diskFree(t, s.storage), appended, dropped)

	prom.Restart()
	back := time.Now()
	require.Eventually(t, func() bool {
		res, err := prom.Query(t.Context(), `count(wide_series)`)
		return err == nil && len(res) > 0
	}, 2*time.Minute, time.Second, "nothing reached Prometheus after it came back")
	scrapedAt := time.Now()
	require.Eventually(t, func() bool {
		res, err := prom.Query(t.Context(), `timestamp(wide_series{i="0"})`)
		return err == nil && len(res) > 0 && res[0].Float() > float64(scrapedAt.Unix())
	}, 2*time.Minute, time.Second, "scrapes after the outage never arrived")
	t.Logf("Prometheus back: a new scrape in Prometheus after %s; %d bytes free; %.0f samples dropped in all (wal_write: %.0f)",
		time.Since(back).Round(time.Second), diskFree(t, s.storage), s.metric(t, "sonde_remote_write_samples_dropped_total"),
		s.metric(t, "sonde_remote_write_samples_dropped_total", `reason="wal_write"`))
	for _, l := range strings.Split(s.proc.Output(), "\n") {
		if strings.Contains(l, `msg="WAL space freed"`) || strings.Contains(l, `msg="WAL appends resumed"`) {
			t.Log(l)
		}
	}

	// With Prometheus up, acknowledged segments are deleted before the disk fills again.
	lost := s.metric(t, "sonde_remote_write_samples_dropped_total", `reason="wal_write"`)
	time.Sleep(20 * time.Second)
	require.Equal(t, lost, s.metric(t, "sonde_remote_write_samples_dropped_total", `reason="wal_write"`),
		"samples dropped again with Prometheus up")
	require.NotContains(t, s.proc.Output(), "panic:", "sonde did not crash")
}

// newWideTarget serves n gauges with long label values and random values (which the WAL's
// compression cannot shrink), so that every scrape writes a lot to the WAL; it returns the
// target's host:port.
func newWideTarget(t *testing.T, n int) string {
	t.Helper()
	pad := strings.Repeat("x", 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b strings.Builder
		b.WriteString("# TYPE wide_series gauge\n")
		for i := range n {
			fmt.Fprintf(&b, "wide_series{i=\"%d\",pad=\"%s\"} %g\n", i, pad, rand.Float64())
		}
		fmt.Fprint(w, b.String())
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// diskFree is what is left for an unprivileged writer on path's file system.
func diskFree(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(path, &st))
	return st.Bavail * uint64(st.Bsize)
}
