// Package pipelinetest holds test helpers for components: a fake Host with a recording
// metrics sink and settable target sets, Options for a component under test, and the
// lifecycle test every component must pass.
package pipelinetest

import (
	"sync"

	"github.com/sondehq/sonde/pipeline"
)

// Host is a fake pipeline.Host. Every Appendable it hands out writes into Sink; Targets
// views return what SetTargets published for the referenced ids.
type Host struct {
	Sink     *Sink
	LogsSink *LogsSink

	mu      sync.Mutex
	targets map[string]pipeline.Targets
	views   []*view
}

// NewHost returns an empty fake host.
func NewHost() *Host {
	return &Host{Sink: NewSink(), LogsSink: NewLogsSink(), targets: map[string]pipeline.Targets{}}
}

// Appendable implements pipeline.Host.
func (h *Host) Appendable(ids []string) pipeline.Appendable { return h.Sink }

// Logs implements pipeline.Host.
func (h *Host) Logs(ids []string) pipeline.LogsReceiver { return h.LogsSink }

// Targets implements pipeline.Host.
func (h *Host) Targets(ids []string) pipeline.TargetsView {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := &view{host: h, ids: ids, ch: make(chan struct{}, 1)}
	h.views = append(h.views, v)
	return v
}

// SetTargets publishes ts as the targets of component id and notifies views.
func (h *Host) SetTargets(id string, ts pipeline.Targets) {
	h.mu.Lock()
	h.targets[id] = ts
	views := append([]*view(nil), h.views...)
	h.mu.Unlock()
	for _, v := range views {
		select {
		case v.ch <- struct{}{}:
		default:
		}
	}
}

// Published returns what component id last published.
func (h *Host) Published(id string) pipeline.Targets {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.targets[id]
}

type view struct {
	host *Host
	ids  []string
	ch   chan struct{}
}

func (v *view) Get() pipeline.Targets {
	v.host.mu.Lock()
	defer v.host.mu.Unlock()
	var out pipeline.Targets
	for _, id := range v.ids {
		out = append(out, v.host.targets[id]...)
	}
	return out
}

func (v *view) Changed() <-chan struct{} { return v.ch }

func (v *view) Close() {
	v.host.mu.Lock()
	defer v.host.mu.Unlock()
	for i, o := range v.host.views {
		if o == v {
			v.host.views = append(v.host.views[:i], v.host.views[i+1:]...)
			return
		}
	}
}
