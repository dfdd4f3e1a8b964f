package httppush

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffGrowsWithinBounds(t *testing.T) {
	minB, maxB := 30*time.Millisecond, 5*time.Second
	for range 100 {
		prev := time.Duration(0)
		for attempt := range 100 {
			d := Backoff(attempt, minB, maxB)
			require.GreaterOrEqual(t, d, minB)
			require.LessOrEqual(t, d, maxB)
			if attempt < 63 && minB <= (maxB/2)>>attempt { // below the cap each delay is at least the previous one
				require.GreaterOrEqual(t, d, prev, "attempt %d", attempt)
			}
			prev = d
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		attempt    int
		minB, maxB time.Duration
		lo, hi     time.Duration
	}{
		{"first retry", 0, time.Second, time.Minute, time.Second, time.Second},
		{"doubles", 3, time.Second, time.Minute, 4 * time.Second, 8 * time.Second},
		{"capped", 10, time.Second, time.Minute, 30 * time.Second, time.Minute},
		{"min equals max", 3, time.Second, time.Second, time.Second, time.Second},
		{"exactly the cap", 2, time.Second, 4 * time.Second, 2 * time.Second, 4 * time.Second},
		// minB<<44 wraps to 2^44ns (about 4.9h): the delay must still be the cap.
		{"shift overflows", 44, 1<<20 + 1, 24 * time.Hour, 12 * time.Hour, 24 * time.Hour},
		{"huge attempt", 1000, time.Millisecond, time.Hour, 30 * time.Minute, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 {
				d := Backoff(tc.attempt, tc.minB, tc.maxB)
				require.GreaterOrEqual(t, d, tc.lo)
				require.LessOrEqual(t, d, tc.hi)
			}
		})
	}
}

// TestBackoffGapsNeverShrink: successive delays of one retry sequence never get shorter,
// and once the cap is reached every delay is the cap (issue 14: jitter at the cap made the
// gaps shrink).
func TestBackoffGapsNeverShrink(t *testing.T) {
	for _, b := range []struct{ minB, maxB time.Duration }{
		{30 * time.Millisecond, 5 * time.Second},  // remote_write's defaults
		{500 * time.Millisecond, 5 * time.Minute}, // loki.write's defaults
		{time.Second, 3 * time.Second},            // a cap that is not a power of two times min
		{time.Second, time.Second},
	} {
		capAt := 0 // the first attempt whose exponential delay reaches the cap
		for b.minB<<capAt < b.maxB {
			capAt++
		}
		for range 200 {
			prev := time.Duration(0)
			for attempt := range 40 {
				d := Backoff(attempt, b.minB, b.maxB)
				require.GreaterOrEqual(t, d, prev, "%v..%v: attempt %d shorter than the one before", b.minB, b.maxB, attempt)
				if attempt > capAt {
					require.Equal(t, b.maxB, d, "%v..%v: attempt %d past the cap", b.minB, b.maxB, attempt)
				}
				prev = d
			}
		}
	}
}

// TestBackoffSpreads: below the cap, delays are random (senders retrying together spread out).
func TestBackoffSpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[Backoff(3, time.Second, time.Hour)] = true
	}
	require.Greater(t, len(seen), 50)
}
