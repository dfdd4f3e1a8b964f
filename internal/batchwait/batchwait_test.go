package batchwait

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fakeQueue struct {
	mu           sync.Mutex
	items, bytes int
	since        time.Time
	notify       chan struct{}
}

func newFakeQueue() *fakeQueue { return &fakeQueue{notify: make(chan struct{}, 1)} }

func (q *fakeQueue) Head() (int, int, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items, q.bytes, q.since
}

func (q *fakeQueue) Notify() <-chan struct{} { return q.notify }

func (q *fakeQueue) put(bytes int) {
	q.mu.Lock()
	if q.items == 0 {
		q.since = time.Now()
	}
	q.items++
	q.bytes += bytes
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func TestWait(t *testing.T) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	bg := context.Background()

	t.Run("full", func(t *testing.T) {
		q := newFakeQueue()
		q.put(100)
		require.True(t, Wait(bg, bg, timer, q, 100, time.Hour), "a request's worth of bytes is queued")
	})
	t.Run("waited long enough", func(t *testing.T) {
		q := newFakeQueue()
		q.put(1)
		start := time.Now()
		require.True(t, Wait(bg, bg, timer, q, 100, 50*time.Millisecond))
		require.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond, "not before the oldest waited")
	})
	t.Run("an item arrives", func(t *testing.T) {
		q := newFakeQueue()
		go func() { time.Sleep(20 * time.Millisecond); q.put(200) }()
		require.True(t, Wait(bg, bg, timer, q, 100, time.Hour))
	})
	t.Run("draining", func(t *testing.T) {
		q := newFakeQueue()
		ctx, cancel := context.WithCancel(bg)
		cancel()
		require.False(t, Wait(ctx, bg, timer, q, 100, time.Hour), "empty: done")
		q.put(1)
		require.True(t, Wait(ctx, bg, timer, q, 100, time.Hour), "what is queued goes at once")
	})
	t.Run("send context ended", func(t *testing.T) {
		q := newFakeQueue()
		q.put(1)
		sendCtx, cancel := context.WithCancel(bg)
		cancel()
		require.False(t, Wait(bg, sendCtx, timer, q, 100, time.Hour))
	})
}
