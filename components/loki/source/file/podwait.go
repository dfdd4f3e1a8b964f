package file

import (
	"time"
)

// Files whose pod metadata is still to come (the pod cache has not listed the node's pods
// yet, or the pod is not in it yet) are opened but held back from the readers, for at most
// pod_wait, so that their first line already carries the pod's labels: a container's lines
// would be split over two Loki streams otherwise, and lines sent again after a restart
// would land in the other stream, where Loki cannot deduplicate them. A held file costs no
// reader; the other files are read meanwhile. The reconciler (Run) owns the holds.

// podRecheck is how often held files look their pod up again. Pods entering the cache let
// them go at once (podAdded); this catches an initial list with nothing to add.
const podRecheck = time.Second

// podHold is a held file: the match its labels are built from and when it is read anyway.
type podHold struct {
	w        wantedFile
	deadline time.Time
}

// podAdded is called by the pod cache when a pod enters it.
func (c *Component) podAdded() {
	select {
	case c.podsC <- struct{}{}:
	default:
	}
}

// podsSyncDeadline is when the wait for the cache's initial list ends.
func (c *Component) podsSyncDeadline(s *settings) time.Time {
	return c.pods.openedAt.Add(s.podWait)
}

// holdNew decides, for a tracker just opened whose pod lookup said pod, whether it waits
// before its first read, and holds it if so. It counts a file read without its pod
// metadata. The caller holds manager.mu; t is queued (queueOpened) unless it is held.
func (c *Component) holdNew(t *tracker, w wantedFile, pod podState, now time.Time) {
	s := c.settings()
	switch {
	case !pod.pending():
		return
	case s.podWait <= 0,
		pod == podUnsynced && !now.Before(c.podsSyncDeadline(s)):
		c.metrics.podMissing.Inc()
		return
	}
	t.held = true
	c.held[t] = &podHold{w: w, deadline: now.Add(s.podWait)}
	c.metrics.podWaiting.Set(float64(len(c.held)))
}

// checkHeld looks the pods of the held files up again and lets go of the files whose pod
// is known now, whose wait is over, or that are no longer matched (drained as they are).
// A file let go without its pod metadata is counted, and its labels are completed at a
// later reconcile if the pod shows up.
func (c *Component) checkHeld(now time.Time) {
	if len(c.held) == 0 {
		return
	}
	s := c.settings()
	syncOver := !now.Before(c.podsSyncDeadline(s))
	m := c.manager
	for t, h := range c.held {
		labels, key, pod := c.labelFile(&h.w, s)
		m.mu.Lock()
		unwanted := t.unwanted
		m.mu.Unlock()
		timedOut := !now.Before(h.deadline) || s.podWait <= 0 || (pod == podUnsynced && syncOver)
		if pod.pending() && !timedOut && !unwanted {
			continue
		}
		if pod.pending() {
			c.metrics.podMissing.Inc()
			if pod == podUnsynced && !c.unsyncedWarn {
				c.unsyncedWarn = true
				c.opts.Logger.Warn("pod cache has not listed this node's pods within pod_wait; reading files without pod labels and annotations until it has",
					"pod_wait", s.podWait)
			}
		}
		t.labels.Store(labels)
		delete(c.held, t)
		m.mu.Lock()
		t.labelKey = key
		t.held = false
		m.enqueueLocked(t)
		m.mu.Unlock()
	}
	c.metrics.podWaiting.Set(float64(len(c.held)))
}

// nextPodCheck returns how long until held files must be looked at again, and false when
// none is held.
func (c *Component) nextPodCheck(now time.Time) (time.Duration, bool) {
	if len(c.held) == 0 {
		return 0, false
	}
	next := now.Add(podRecheck)
	for _, h := range c.held {
		if h.deadline.Before(next) {
			next = h.deadline
		}
	}
	return max(next.Sub(now), 0), true
}
