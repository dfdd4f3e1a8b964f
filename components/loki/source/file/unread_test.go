package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// gateSink delivers and acknowledges batches while open; closed, ConsumeLogs blocks until
// it opens again (or its context ends).
type gateSink struct {
	closed atomic.Bool
	mu     sync.Mutex
	open   chan struct{}
	n      int
}

func newGateSink() *gateSink { return &gateSink{open: make(chan struct{})} }

func (s *gateSink) ConsumeLogs(ctx context.Context, b pipeline.LogBatch) error {
	if s.closed.Load() {
		select {
		case <-s.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	s.n += len(b.Entries)
	s.mu.Unlock()
	b.Ack(nil)
	return nil
}

func (s *gateSink) entries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// TestUnreadBytesWhileBlocked: while forward_to blocks, the readers stop and the files keep
// growing; unread_bytes reports what was written and not read (it read 0, its value when
// the reader last finished a pass).
func TestUnreadBytesWhileBlocked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	sink := newGateSink()
	args := testArgs(path)
	args.BatchSize = 64 << 10
	writeLines(t, path, "a", 0, 10)
	h := start(t, args, "", sink)
	require.Eventually(t, func() bool { return sink.entries() == 10 }, 10*time.Second, time.Millisecond)
	require.Zero(t, testutil.ToFloat64(h.c.metrics.unreadBytes), "caught up")

	sink.closed.Store(true) // Loki goes down
	var b strings.Builder
	for i := range 200000 { // about 10 MB
		b.WriteString(criLine(fmt.Sprintf("a-%06d", 10+i)))
	}
	appendFile(t, path, b.String())
	require.Eventually(t, func() bool { return h.c.batcher.Blocked() == 1 }, 10*time.Second, time.Millisecond)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	read := testutil.ToFloat64(h.c.metrics.readBytes)
	unread := testutil.ToFloat64(h.c.metrics.unreadBytes)
	require.InDelta(t, float64(fi.Size())-read, unread, float64(minReadBuffer+int(args.MaxLineSize)+64<<10),
		"unread_bytes is the size less what was read")
	t.Logf("blocked: size %d, read %.0f, unread_bytes %.0f", fi.Size(), read, unread)
	require.Greater(t, unread, float64(fi.Size())/2, "most of the file is not read")

	close(sink.open)
	sink.closed.Store(false)
	require.Eventually(t, func() bool { return sink.entries() == 200010 }, 60*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.c.metrics.unreadBytes) == 0 }, 10*time.Second, 5*time.Millisecond)
}
