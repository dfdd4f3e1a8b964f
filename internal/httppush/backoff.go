package httppush

import (
	"math/rand/v2"
	"time"
)

// Backoff returns the delay before retry number attempt (0 for the first retry): exponential
// from minB, capped at maxB. Retry n waits a random time between the ceilings of retries n-1
// and n, where the ceiling of retry n is minB·2ⁿ capped at maxB (the first retry waits minB).
// So senders retrying together (shards, agents) spread out, while successive delays never
// shrink: each is at least the previous one's ceiling, and once the cap is reached every
// delay is exactly maxB (jitter at the cap, as a random delay in [maxB/2, maxB], would make
// the gaps go up and down). minB must be positive and not above maxB.
func Backoff(attempt int, minB, maxB time.Duration) time.Duration {
	if attempt <= 0 {
		return minB
	}
	lo, hi := ceiling(attempt-1, minB, maxB), ceiling(attempt, minB, maxB)
	return lo + time.Duration(rand.Int64N(int64(hi-lo)+1))
}

// ceiling is minB·2^attempt capped at maxB, without overflow.
func ceiling(attempt int, minB, maxB time.Duration) time.Duration {
	if attempt < 63 && minB <= maxB>>attempt { // minB<<attempt <= maxB
		return minB << attempt
	}
	return maxB
}
