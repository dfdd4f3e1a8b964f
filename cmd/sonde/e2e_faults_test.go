package main

// The fault-injection suite (issue 14): sonde against real backends under the faults an SRE
// tries in a game day. Each test reports what was lost (must be 0) and duplicated.

import (
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
)

// logsConfig tails pods/*/*/*.log into loki.write at lokiURL.
func logsConfig(pods, lokiURL string) string {
	return fmt.Sprintf(`
components:
  loki.source.file/pods:
    paths: [%q]
    path_labels: kubernetes
    batch_wait: 200ms
    forward_to: [loki.write/default]
  loki.write/default:
    endpoints:
      - url: %s
        batch_wait: 200ms
        min_backoff: 100ms
        max_backoff: 1s
        timeout: 2s
`, pods+"/*/*/*.log", lokiURL)
}

// lokiLines returns how many times each line of the test pod's stream is in Loki, once
// want lines (duplicates included) are there.
func lokiLines(t *testing.T, loki *lokitest.Loki, since time.Time, want int) map[string]int {
	t.Helper()
	streams := loki.WaitEntries(t, `{namespace="shop", pod="web-1", container="nginx"}`, since, time.Now().Add(time.Minute), want, 3*time.Minute)
	got := map[string]int{}
	for _, st := range streams {
		for _, e := range st.Entries {
			got[e.Line]++
		}
	}
	return got
}

// lostAndDuplicated compares what reached Loki with what was written.
func lostAndDuplicated(want map[string]time.Time, got map[string]int) (lost, dup int) {
	for line := range want {
		switch n := got[line]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	return lost, dup
}

func podLog(t *testing.T) (pods string, log *criLog) {
	pods = t.TempDir()
	return pods, newCRILog(t, filepath.Join(pods, "shop_web-1_0d8f3c2a-1111-2222-3333-444455556666", "nginx"))
}

// TestFaultKillLoop: sonde is SIGKILLed five times at random moments while a pod logs and
// the log rotates; every line reaches Loki, and duplicates stay within what was in flight.
func TestFaultKillLoop(t *testing.T) {
	loki := lokitest.Start(t)
	pods, log := podLog(t)
	s := newSonde(t, "--config="+writeConfig(t, logsConfig(pods, loki.PushURL())))
	since := time.Now().Add(-2 * time.Minute)
	for i := range 5 {
		log.write(400)
		if i%2 == 1 {
			log.rotate()
		}
		log.write(200)
		time.Sleep(time.Duration(300+rand.IntN(1500)) * time.Millisecond)
		s.proc.Kill()
		log.write(100) // while sonde is dead
		s.start()
	}
	log.write(100)
	got := lokiLines(t, loki, since, len(log.want))
	lost, dup := lostAndDuplicated(log.want, got)
	t.Logf("kill -9 ×5 with rotations: %d lines written, %d lost, %d duplicated", len(log.want), lost, dup)
	require.Zero(t, lost, "lines lost across kills")
	require.LessOrEqual(t, dup, 5*2000, "duplicates beyond a batch in flight per kill")
}

// hangingServer accepts connections and never answers, like a wedged receiver.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read or answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/loki/api/v1/push"
}

// TestFaultHangingReceiver: Loki hangs (accepts, never answers). SIGTERM: sonde exits 0
// within its budget, and nothing it read is marked delivered: pointed at a working Loki,
// the next start delivers every line once.
func TestFaultHangingReceiver(t *testing.T) {
	loki := lokitest.Start(t)
	pods, log := podLog(t)
	const budget = 5 * time.Second
	s := newSonde(t, "--shutdown.timeout="+budget.String(), "--config="+writeConfig(t, logsConfig(pods, hangingServer(t))))
	since := time.Now().Add(-2 * time.Minute)
	log.write(800)
	time.Sleep(3 * time.Second) // read, batched, stuck in requests that never return

	stopped := time.Now()
	s.proc.Stop(budget + 5*time.Second)
	took := time.Since(stopped)
	require.NoError(t, s.proc.ExitErr(), "sonde exits 0 on SIGTERM with a hanging receiver")
	require.Less(t, took, budget+2*time.Second)

	s.args = []string{"--config=" + writeConfig(t, logsConfig(pods, loki.PushURL()))}
	s.start()
	lost, dup := lostAndDuplicated(log.want, lokiLines(t, loki, since, len(log.want)))
	t.Logf("hanging Loki: SIGTERM exit 0 after %s (budget %s); then %d lines, %d lost, %d duplicated",
		took.Round(10*time.Millisecond), budget, len(log.want), lost, dup)
	require.Zero(t, lost)
	require.Zero(t, dup, "nothing was delivered before the restart, so nothing can come twice")
}
