// Package batchwait decides when a batching sender (loki.write, elasticsearch.write) sends
// its next request: once a request's worth of bytes is queued, once the oldest queued item
// has waited long enough, or at once while the sender drains.
package batchwait

import (
	"context"
	"time"
)

// Queue is what Wait reads of a sender's queue.
type Queue interface {
	// Head returns how many items and bytes are queued, and when the oldest was queued.
	Head() (items, bytes int, since time.Time)
	// Notify is signalled when an item is queued.
	Notify() <-chan struct{}
}

// Wait blocks until a request should be sent: size bytes are queued, the oldest item has
// waited maxWait, or ctx has ended (the sender drains what is queued). It returns false
// when there is nothing left to do: sendCtx ended, or ctx ended and the queue is empty.
// timer is the caller's, stopped on return.
func Wait(ctx, sendCtx context.Context, timer *time.Timer, q Queue, size int, maxWait time.Duration) bool {
	for {
		if sendCtx.Err() != nil {
			return false
		}
		items, bytes, since := q.Head()
		draining := ctx.Err() != nil
		if items == 0 {
			if draining {
				return false
			}
			select {
			case <-q.Notify():
			case <-ctx.Done():
			}
			continue
		}
		if draining || bytes >= size {
			return true
		}
		wait := maxWait - time.Since(since)
		if wait <= 0 {
			return true
		}
		timer.Reset(wait)
		select {
		case <-q.Notify():
		case <-timer.C:
			return true
		case <-ctx.Done():
		}
		timer.Stop()
	}
}
