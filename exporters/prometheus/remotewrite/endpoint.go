package remotewrite

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sondehq/sonde/internal/httppush"
	"github.com/sondehq/sonde/pipeline"
)

// endpoint is one receiver's sending side: its sender (WAL reader and shards), its marker
// (its own position in the shared WAL), its metrics and how its requests fare. Run owns it
// and replaces it as a whole when the endpoint changes; DebugInfo reads the published list.
type endpoint struct {
	name   string // the endpoint label of its metrics; with base, its identity
	base   string // its marker files: markerFile with one endpoint, endpointMarkerBase otherwise
	cfg    EndpointConfig
	store  *markerStore
	m      *endpointMetrics
	status *httppush.Status
	// neg is the protocol it speaks, kept across its senders (see negotiation).
	neg *negotiation
	snd *sender
	// shards is the count its sender runs with, which the scaler adapts.
	shards int
	scale  scaler
}

// endpointMarkerBase names the marker files of endpoint name when there are several: a
// hash, since names are URLs or anything the user wrote.
func endpointMarkerBase(name string) string {
	h := sha256.Sum256([]byte(name))
	return markerFile + "-" + hex.EncodeToString(h[:8])
}

// markerBase is where the endpoint's marker lives among n endpoints: the one endpoint keeps
// the files of the versions before there could be several.
func markerBase(name string, n int) string {
	if n == 1 {
		return markerFile
	}
	return endpointMarkerBase(name)
}

// persist saves the endpoint's acknowledged position durably.
func (c *Component) persist(ep *endpoint) {
	if err := ep.store.saveDurable(ep.snd.marker()); err != nil {
		c.logger.Error("persist marker", "endpoint", ep.name, "err", err)
	}
}

// openEndpoint reads the position of the endpoint cfg (the idx-th of n) and starts sending
// to it from there.
func (c *Component) openEndpoint(w *walStorage, cfg EndpointConfig, idx, n int, ext map[string]string) (*endpoint, error) {
	name := cfg.name()
	m := c.m.forEndpoint(name)
	ep := &endpoint{name: name, base: markerBase(name, n), cfg: cfg, m: m, status: &httppush.Status{}, neg: newNegotiation(cfg, m),
		shards: cfg.Queue.Shards}
	ep.store = newMarkerStoreAt(c.opts.DataPath, ep.base, m.markerFails.Inc)
	start := c.loadMarker(w, ep, idx)
	snd, err := c.newSender(w, ep, cfg, ext, start)
	if err != nil {
		ep.store.close(start) //nolint:errcheck // nothing was sent: the position stays as it was
		c.m.deleteEndpoint(name)
		return nil, err
	}
	ep.snd = snd
	snd.start()
	c.logger.Info("sending", "endpoint", name, "url", cfg.URL.Redacted(), "protobuf_message", cfg.ProtobufMessage, "shards", cfg.Queue.Shards,
		"from_segment", start.Acked.Segment, "from_offset", start.Acked.Offset)
	return ep, nil
}

// reshard restarts ep's sender with the shard count the scaler asks for, if it asks, and
// returns the endpoint with the new sender (a copy: DebugInfo may be reading ep), or ep.
func (c *Component) reshard(w *walStorage, ep *endpoint, ext map[string]string, now time.Time) (*endpoint, error) {
	lag := 0.0
	if sent, app := ep.m.highestSentMs.Load(), c.m.highestAppendedMs.Load(); sent != minTimestamp && app != minTimestamp {
		lag = float64(app-sent) / 1000
	}
	lo, hi := ep.cfg.Queue.shardBounds()
	n, change := ep.scale.desired(now, ep.snd.load(), w.appended.Load(), lag, ep.shards, lo, hi)
	if !change {
		return ep, nil
	}
	ep.snd.stop()
	m := ep.snd.marker()
	c.logger.Info("resharding", "endpoint", ep.name, "from", ep.shards, "to", n, "lag_seconds", lag)
	next := *ep
	next.shards = n
	ns, err := c.newSender(w, &next, next.cfg, ext, m)
	if err != nil {
		return ep, fmt.Errorf("restart sender of endpoint %s: %w", ep.name, err)
	}
	ns.start()
	next.snd = ns
	next.m.reshards.Inc()
	return &next, nil
}

// closeEndpoint stops an endpoint that is no longer configured and saves its position, in
// case it comes back.
func (c *Component) closeEndpoint(ep *endpoint) {
	ep.snd.stop()
	if err := ep.store.close(ep.snd.marker()); err != nil {
		c.logger.Error("persist marker", "endpoint", ep.name, "err", err)
	}
	c.m.deleteEndpoint(ep.name)
	c.health.remove(ep.name)
	c.logger.Info("endpoint removed", "endpoint", ep.name)
}

// readMarker reads the endpoint's position: the furthest of its own marker and the one of
// the other layout if that belongs to it — written for it by name, or, written before
// markers named their endpoint, for the first endpoint — so that going from one endpoint to
// several (or back) resends nothing. Without any, every endpoint starts from the oldest
// data in the WAL (at-least-once).
func (c *Component) readMarker(ep *endpoint, idx int) (marker, error) {
	m, err := ep.store.load()
	other := newMarkerStore(c.opts.DataPath, func() {})
	if ep.base == markerFile {
		other = newMarkerStoreAt(c.opts.DataPath, endpointMarkerBase(ep.name), func() {})
	}
	om, oerr := other.load()
	switch {
	case oerr != nil || !(om.Endpoint == ep.name || (om.Endpoint == "" && idx == 0)):
		return m, err
	case err == nil && (m.covers(om) || (!om.covers(m) && !m.Acked.less(om.Acked))):
		return m, nil
	}
	c.logger.Info("position taken over from the marker of the other layout", "endpoint", ep.name, "file", other.base)
	return om, nil
}

// healthSetter is where a sender reports its endpoint's health.
type healthSetter interface {
	Set(state pipeline.HealthState, msg string)
}

// endpointsHealth makes the component's health out of its endpoints': unhealthy while any
// is (the message says which and why), healthy otherwise.
type endpointsHealth struct {
	h      *pipeline.Health
	mu     sync.Mutex
	order  []string          // endpoint names, in the order they were first reported
	states map[string]string // name → message of an unhealthy endpoint; absent: healthy
}

func newEndpointsHealth(h *pipeline.Health) *endpointsHealth {
	return &endpointsHealth{h: h, states: map[string]string{}}
}

// of returns the health setter of endpoint name.
func (e *endpointsHealth) of(name string) healthSetter { return endpointHealth{e: e, name: name} }

type endpointHealth struct {
	e    *endpointsHealth
	name string
}

// Set implements healthSetter.
func (h endpointHealth) Set(state pipeline.HealthState, msg string) {
	e := h.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.Contains(e.order, h.name) {
		e.order = append(e.order, h.name)
	}
	if state == pipeline.HealthUnhealthy {
		e.states[h.name] = msg
	} else {
		delete(e.states, h.name)
	}
	e.publishLocked()
}

// remove forgets an endpoint that is no longer configured.
func (e *endpointsHealth) remove(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.states, name)
	for i, n := range e.order {
		if n == name {
			e.order = append(e.order[:i], e.order[i+1:]...)
			break
		}
	}
	e.publishLocked()
}

func (e *endpointsHealth) publishLocked() {
	if len(e.states) == 0 {
		e.h.Set(pipeline.HealthHealthy, "")
		return
	}
	var msgs []string
	for _, n := range e.order {
		if msg, ok := e.states[n]; ok {
			msgs = append(msgs, msg)
		}
	}
	e.h.Set(pipeline.HealthUnhealthy, strings.Join(msgs, "; "))
}
