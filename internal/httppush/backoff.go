package httppush

import (
	"math/rand/v2"
	"time"
)

// Backoff returns the delay before retry number attempt (0 for the first retry):
// exponential from minB, capped at maxB, with jitter in the upper half, so that a delay is
// never shorter than the previous one's lower bound and senders retrying together (shards,
// agents) spread out. minB must be positive and not above maxB.
func Backoff(attempt int, minB, maxB time.Duration) time.Duration {
	d := maxB
	if attempt < 63 && minB <= maxB>>attempt { // minB<<attempt <= maxB, without overflow
		d = minB << attempt
	}
	j := d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return max(j, minB)
}
