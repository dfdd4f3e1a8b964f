package remotewrite

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestScalerDesired(t *testing.T) {
	t0 := time.Unix(1000, 0)
	step := func(sc *scaler, busySec float64, done, appended int64, lag float64, cur, lo, hi int) (int, bool) {
		return sc.desired(t0.Add(10*time.Second), shardLoad{busyNanos: int64(busySec * 1e9), done: done}, appended, lag, cur, lo, hi)
	}
	first := func() *scaler {
		sc := &scaler{}
		n, ok := sc.desired(t0, shardLoad{}, 0, 0, 2, 1, 50)
		require.False(t, ok, "no change without a measurement")
		require.Equal(t, 2, n)
		return sc
	}
	// 1000 samples/s come in; a busy shard sends 500/s: 2 shards are just enough, 3 with headroom.
	n, ok := step(first(), 20, 10_000, 10_000, 0, 2, 1, 50)
	require.True(t, ok)
	require.Equal(t, 3, n)
	// A backlog of a minute doubles the need.
	n, ok = step(first(), 20, 10_000, 10_000, 60, 2, 1, 50)
	require.True(t, ok)
	require.Equal(t, 5, n)
	// Bounded by max_shards.
	n, ok = step(first(), 20, 10_000, 10_000, 600, 2, 1, 4)
	require.True(t, ok)
	require.Equal(t, 4, n)
	// Little load: down to min_shards only.
	n, ok = step(first(), 0.1, 10_000, 10_000, 0, 8, 2, 50)
	require.True(t, ok)
	require.Equal(t, 2, n)
	n, ok = step(first(), 0.1, 10_000, 10_000, 0, 4, 4, 50)
	require.False(t, ok, "min_shards defaults to shards: it never goes below")
	require.Equal(t, 4, n)
	// Small differences do not reshard.
	n, ok = step(first(), 20, 10_000, 11_000, 0, 3, 1, 50)
	require.False(t, ok, "want %d", n)
	// Not while failing, nor without sends.
	sc := first()
	_, ok = sc.desired(t0.Add(10*time.Second), shardLoad{busyNanos: 20e9, done: 10_000, failing: true}, 10_000, 0, 1, 1, 50)
	require.False(t, ok)
	_, ok = step(first(), 0, 0, 10_000, 0, 1, 1, 50)
	require.False(t, ok, "data comes in, nothing is sent: keep the count")
	n, ok = step(first(), 0, 0, 0, 0, 6, 1, 50)
	require.True(t, ok, "idle: down to min_shards")
	require.Equal(t, 1, n)
}
