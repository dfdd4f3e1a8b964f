package remotewrite

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSampleQueueWakesShardOnlyWhenNeeded: the shard is woken when samples come into an
// empty queue (to start the batch deadline), when a batch is complete, and at close; not
// for every put in between.
func TestSampleQueueWakesShardOnlyWhenNeeded(t *testing.T) {
	q := newSampleQueue(100, 10)
	woken := func() bool {
		select {
		case <-q.ready:
			return true
		default:
			return false
		}
	}
	put := func(n int) { require.True(t, q.put(t.Context(), make([]queuedSample, n))) }

	put(3)
	require.True(t, woken(), "into an empty queue")
	put(3)
	require.False(t, woken(), "3 more of a batch of 10")
	put(5)
	require.True(t, woken(), "a batch is complete")
	put(5)
	require.False(t, woken(), "a batch was complete already")

	var batch []queuedSample
	more, done := q.moveTo(&batch, 10)
	require.True(t, more)
	require.False(t, done)
	require.Len(t, batch, 10)
	n, closed := q.length()
	require.Equal(t, 6, n)
	require.False(t, closed)
	put(1)
	require.False(t, woken(), "6 left: the shard knows, its deadline runs")

	batch = batch[:0]
	q.moveTo(&batch, 10)
	put(1)
	require.True(t, woken(), "empty again")
	q.close()
	require.True(t, woken(), "closed")
}
