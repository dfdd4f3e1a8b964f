package gpu

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/nvml"
)

// pollEvents drains pending XID events.
func (c *collector) pollEvents() {
	if c.events == nil {
		return
	}
	evs, err := c.events.Poll(maxEventsPerPass)
	if err != nil {
		c.countError("", reasonEvents)
		c.logger.Warn("reading XID events failed; the event set is created again", "err", err)
		c.closeEvents()
	}
	for _, ev := range evs {
		g := c.gpus[ev.UUID]
		if g == nil {
			if c.m != nil {
				c.m.dropped.WithLabelValues(dropUnknownGPU).Inc()
			}
			continue
		}
		g.lastXID = ev.XID
		if c.m != nil {
			c.m.xids.WithLabelValues(strconv.Itoa(g.info.Index), strconv.FormatUint(ev.XID, 10)).Inc()
		}
		c.logger.Warn("XID error", "gpu", g.info.Index, "uuid", g.info.UUID, "xid", ev.XID, "description", xidMessage(ev.XID),
			"gpu_instance", ev.GPUInstanceID, "compute_instance", ev.ComputeInstanceID)
		if ev.XID == 79 && !g.lost {
			g.lost = true
			g.noteError(fmt.Errorf("XID 79: %s", xidMessage(79)))
			c.logLost(g, errors.New("XID 79"))
		}
	}
}

// syncEvents (re)creates the event set when the set of healthy GPUs changed.
func (c *collector) syncEvents(gpus []*gpuState) {
	var want []string
	for _, g := range gpus {
		if !g.lost && g.dev != nil {
			want = append(want, g.info.UUID)
		}
	}
	slices.Sort(want)
	if c.events != nil && slices.Equal(want, c.evUUIDs) {
		return
	}
	c.closeEvents()
	if len(want) == 0 {
		return
	}
	set, err := c.lib.NewEventSet()
	if err != nil {
		c.countError("", reasonEvents)
		c.logger.Warn("cannot create the XID event set; XID errors are not reported", "err", err)
		return
	}
	for _, g := range gpus {
		if g.lost || g.dev == nil {
			continue
		}
		if err := set.Register(g.dev); err != nil && !errors.Is(err, nvml.ErrNotSupported) {
			c.countError(strconv.Itoa(g.info.Index), reasonEvents)
			c.logger.Warn("cannot watch XID events of a GPU", "gpu", g.info.Index, "err", err)
		}
	}
	c.events, c.evUUIDs = set, want
}

func (c *collector) closeEvents() {
	if c.events != nil {
		_ = c.events.Close()
		c.events, c.evUUIDs = nil, nil
	}
}
