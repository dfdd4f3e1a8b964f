package remotewrite

import (
	"math"
	"time"
)

// Shard count adaptation. Every reshardInterval the endpoint compares the rate data comes
// into the WAL (plus the backlog, to be cleared within catchUpTime) with what one shard
// sends per second while it is busy, and picks the shards that covers with headroom,
// within the queue's bounds. Like Prometheus, it changes the count only for a clear
// difference, and not while the receiver is failing: more requests do not help a receiver
// that refuses them.
//
// A new count starts a new sender from the acknowledged marker (as a restart does): the
// old shards' positions say what they sent, so nothing is sent twice (see walReader).
const (
	reshardInterval = 10 * time.Second
	catchUpTime     = time.Minute
	shardHeadroom   = 1.25
	reshardUpRatio  = 1.3 // grow when the need is at least this many times the count
	reshardDownFrac = 0.7 // shrink when it is at most this fraction of it
)

// scaler keeps what the last evaluation saw of an endpoint.
type scaler struct {
	at             time.Time
	busy, out, app int64 // the sender's busy nanoseconds and samples done, the WAL's appends
}

// shardLoad is what a sender reports for the scaler.
type shardLoad struct {
	busyNanos int64 // time its shards spent delivering, summed
	done      int64 // samples acknowledged or dropped for good
	failing   bool
}

// desired returns the shard count for the load measured since the last call, and whether
// it differs enough from cur to change. appended counts the samples committed to the WAL
// (a counter); lagSeconds is how far the newest sample sent is behind the newest appended.
func (sc *scaler) desired(now time.Time, load shardLoad, appended int64, lagSeconds float64, cur, lo, hi int) (int, bool) {
	prev := *sc
	*sc = scaler{at: now, busy: load.busyNanos, out: load.done, app: appended}
	dt := now.Sub(prev.at).Seconds()
	busy := float64(load.busyNanos-prev.busy) / 1e9
	done := float64(load.done - prev.out)
	in := float64(appended - prev.app)
	if prev.at.IsZero() || dt <= 0 || load.failing || in < 0 {
		return cur, false
	}
	var want int
	switch {
	case in == 0 && done == 0: // idle: nothing comes in, nothing is left to send
		want = lo
	case busy <= 0 || done <= 0: // nothing measured (or stalled): keep the count
		return cur, false
	default:
		perShard := done / busy // samples a second one busy shard sends
		need := in / dt * (1 + max(lagSeconds, 0)/catchUpTime.Seconds())
		want = int(math.Ceil(need / perShard * shardHeadroom))
	}
	want = min(max(want, lo, 1), hi)
	switch {
	case want > cur && float64(want) >= float64(cur)*reshardUpRatio:
		return want, true
	case want < cur && float64(want) <= float64(cur)*reshardDownFrac:
		return want, true
	case cur < lo || cur > hi: // the bounds changed
		return min(max(cur, lo), hi), true
	}
	return cur, false
}
