package main

import (
	"strconv"
	"time"
)

// churn replaces a fraction of a target's series every period, the way pods coming and
// going replace series in a cluster: the replaced series get a new `churn` label value (so
// the old series go stale and new ones start, at zero), the total stays the same. The
// series replaced rotate through the target, so every series is replaced in turn.
type churn struct {
	fraction float64
	every    time.Duration
	start    time.Time
	now      func() time.Time

	base [][]byte // the series' original line prefixes
	gen  int      // generations applied
	next int      // the first series of the next generation
}

// apply brings the target's series up to the generation due now. t.mu is held.
func (c *churn) apply(t *target) {
	if c == nil || c.every <= 0 || c.fraction <= 0 {
		return
	}
	if c.base == nil {
		c.base = append([][]byte(nil), t.prefix...)
	}
	due := int(c.now().Sub(c.start) / c.every)
	n := max(1, int(c.fraction*float64(len(t.prefix))+0.5))
	for ; c.gen < due; c.gen++ {
		for range min(n, len(t.prefix)) {
			i := c.next
			c.next = (c.next + 1) % len(t.prefix)
			t.prefix[i] = withChurnLabel(c.base[i], c.gen+1)
			t.values[i] = 0
		}
	}
}

// withChurnLabel turns `name{labels} ` into `name{labels,churn="gen"} `.
func withChurnLabel(prefix []byte, gen int) []byte {
	b := make([]byte, 0, len(prefix)+16)
	b = append(b, prefix[:len(prefix)-2]...)
	b = append(b, `,churn="`...)
	b = strconv.AppendInt(b, int64(gen), 10)
	return append(b, `"} `...)
}
