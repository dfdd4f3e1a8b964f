package file

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/internal/logbatch"
	"github.com/sondehq/sonde/pipeline"
)

// lateSink accepts every batch at once and acknowledges it delay later (never, with a
// negative delay).
type lateSink struct {
	delay time.Duration

	mu    sync.Mutex
	lines []string
	acked int
}

func (s *lateSink) ConsumeLogs(_ context.Context, b pipeline.LogBatch) error {
	s.mu.Lock()
	for _, e := range b.Entries {
		s.lines = append(s.lines, e.Line)
	}
	s.mu.Unlock()
	if s.delay >= 0 {
		time.AfterFunc(s.delay, func() {
			s.mu.Lock()
			s.acked += len(b.Entries)
			s.mu.Unlock()
			b.Ack(nil)
		})
	}
	return nil
}

func (s *lateSink) got() (lines []string, acked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...), s.acked
}

// noFlushBound runs the component with the controller's flush deadline (here
// pipeline.DefaultFlushTimeout), not the harness's shorter one, and fsnotify off (a bubble).
func noFlushBound(c *Component) { c.flushTimeout, c.pollOnly = 0, true }

// TestStopWaitsForAcks: stopped with a batch handed over but not yet acknowledged, the
// component waits for the acknowledgement before it saves the positions, so a restart
// sends nothing again.
func TestStopWaitsForAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "a.log")
		writeLines(t, path, "a", 0, 100)
		sink := &lateSink{delay: 3 * time.Second}
		args := testArgs(path)
		h1 := startWith(t, args, "", sink, nil, noFlushBound)
		settle(100 * time.Millisecond) // read and handed over, not acknowledged
		lines, acked := sink.got()
		require.Len(t, lines, 100)
		require.Zero(t, acked)

		start := time.Now()
		h1.stop()
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, fi.Size(), readPositions(t, h1.opts.DataPath)[path], "the acknowledged lines are committed")
		require.Equal(t, 3*time.Second-100*time.Millisecond, time.Since(start).Round(100*time.Millisecond),
			"the stop waits for the acknowledgement, no longer")

		sink2 := &lateSink{}
		writeLines(t, path, "a", 100, 101) // a marker
		startWith(t, args, h1.opts.DataPath, sink2, nil, noFlushBound)
		settle(time.Second)
		lines, _ = sink2.got()
		requireExactlyOnce(t, expectLines("a", 100, 101), lines)
	})
}

// TestStopBoundedWithoutAcks: a sink that never acknowledges does not hold the stop past
// the flush deadline, and the positions saved are not ahead of what was acknowledged.
func TestStopBoundedWithoutAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "a.log")
		writeLines(t, path, "a", 0, 100)
		sink := &lateSink{delay: -1}
		h := startWith(t, testArgs(path), "", sink, nil, noFlushBound)
		settle(100 * time.Millisecond)
		lines, _ := sink.got()
		require.Len(t, lines, 100)

		start := time.Now()
		h.stop()
		require.Equal(t, pipeline.DefaultFlushTimeout-logbatch.SaveMargin, time.Since(start),
			"waits for acknowledgements until a second before the deadline, then saves")
		require.Zero(t, readPositions(t, h.opts.DataPath)[path], "nothing unacknowledged is committed")
	})
}
