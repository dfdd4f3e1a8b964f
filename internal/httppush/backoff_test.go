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
