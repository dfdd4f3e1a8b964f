package pipeline

import (
	"sync"

	"github.com/prometheus/common/model"
)

// KindTargets: the referenced component publishes target sets (it implements
// TargetsExporter).
const KindTargets EdgeKind = "targets"

// Targets is a full snapshot of target label sets, each one merged (the group's labels and
// the target's own, including __address__ and __meta_* labels), as Prometheus discovery
// produces them. Publishers always send the whole set; consumers never see deltas.
type Targets []model.LabelSet

// TargetsView is a consumer's view of the union of the targets published by one or more
// components.
type TargetsView interface {
	// Get returns the current union, in reference order. The result must not be modified.
	Get() Targets
	// Changed is signalled (without blocking, coalesced) whenever any referenced publisher
	// publishes; read Get afterwards.
	Changed() <-chan struct{}
	// Close releases the view's subscriptions.
	Close()
}

// TargetsExporter is implemented by components whose registration exports KindTargets;
// embedding a TargetsPublisher implements it.
type TargetsExporter interface {
	ExportedTargets() *TargetsPublisher
}

// TargetsPublisher is where a component publishes its targets: it keeps the last set and
// hands every set to whatever the controller (or a test host) connected. Its zero value is
// ready; it is safe for concurrent use.
type TargetsPublisher struct {
	mu        sync.Mutex
	current   Targets
	published bool
	sink      func(Targets)
}

// Publish replaces the full target set the component exports; the slice must not be
// modified afterwards.
func (p *TargetsPublisher) Publish(ts Targets) {
	p.mu.Lock()
	defer p.mu.Unlock() // held while handing over, so that sets arrive in order
	p.current, p.published = ts, true
	if p.sink != nil {
		p.sink(ts)
	}
}

// Published returns the last set published, and whether anything was published yet.
func (p *TargetsPublisher) Published() (Targets, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current, p.published
}

// ExportedTargets implements TargetsExporter.
func (p *TargetsPublisher) ExportedTargets() *TargetsPublisher { return p }

// Connect hands the last published set (if any) and every later one to sink; nil
// disconnects. sink must not block and must not call back into p.
func (p *TargetsPublisher) Connect(sink func(Targets)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sink = sink
	if sink != nil && p.published {
		sink(p.current)
	}
}

// targetsHandle holds the targets last published by one component id and notifies the
// views that subscribe to it. It outlives restarts of the component.
type targetsHandle struct {
	mu      sync.Mutex
	current Targets
	subs    map[*targetsView]struct{}
	source  *TargetsPublisher // the publisher of the instance attached now
}

func newTargetsHandle() *targetsHandle {
	return &targetsHandle{subs: map[*targetsView]struct{}{}}
}

// attach connects the publisher of a new instance (nil: none) and disconnects the previous
// one. The targets last published stay until the new instance publishes.
func (h *targetsHandle) attach(p *TargetsPublisher) {
	h.mu.Lock()
	old := h.source
	h.source = p
	h.mu.Unlock()
	if old == p {
		return
	}
	if old != nil {
		old.Connect(nil)
	}
	if p != nil {
		p.Connect(h.publish)
	}
}

func (h *targetsHandle) publish(ts Targets) {
	h.mu.Lock()
	h.current = ts
	subs := make([]*targetsView, 0, len(h.subs))
	for v := range h.subs {
		subs = append(subs, v)
	}
	h.mu.Unlock()
	for _, v := range subs {
		v.notify()
	}
}

func (h *targetsHandle) get() Targets {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current
}

// targetsView is the union of several handles' targets.
type targetsView struct {
	handles []*targetsHandle
	ch      chan struct{}
	once    sync.Once
}

func newTargetsView(handles []*targetsHandle) *targetsView {
	v := &targetsView{handles: handles, ch: make(chan struct{}, 1)}
	for _, h := range handles {
		h.mu.Lock()
		h.subs[v] = struct{}{}
		h.mu.Unlock()
	}
	v.notify() // the first Get is worth doing even before anyone publishes again
	return v
}

func (v *targetsView) notify() {
	select {
	case v.ch <- struct{}{}:
	default:
	}
}

func (v *targetsView) Get() Targets {
	if len(v.handles) == 1 {
		return v.handles[0].get()
	}
	var out Targets
	for _, h := range v.handles {
		out = append(out, h.get()...)
	}
	return out
}

func (v *targetsView) Changed() <-chan struct{} { return v.ch }

func (v *targetsView) Close() {
	v.once.Do(func() {
		for _, h := range v.handles {
			h.mu.Lock()
			delete(h.subs, v)
			h.mu.Unlock()
		}
	})
}
