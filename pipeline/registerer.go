package pipeline

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// trackingRegisterer remembers what a component registered so that everything can be
// unregistered when the component stops or is rebuilt; otherwise a restarted component
// would fail with "duplicate metrics collector registration".
type trackingRegisterer struct {
	next prometheus.Registerer
	mu   sync.Mutex
	cs   []prometheus.Collector
}

func (r *trackingRegisterer) Register(c prometheus.Collector) error {
	if err := r.next.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.cs = append(r.cs, c)
	r.mu.Unlock()
	return nil
}

func (r *trackingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err) // same contract as prometheus.Registerer.MustRegister
		}
	}
}

func (r *trackingRegisterer) Unregister(c prometheus.Collector) bool {
	r.mu.Lock()
	for i, o := range r.cs {
		if o == c {
			r.cs = append(r.cs[:i], r.cs[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	return r.next.Unregister(c)
}

func (r *trackingRegisterer) unregisterAll() {
	r.mu.Lock()
	cs := r.cs
	r.cs = nil
	r.mu.Unlock()
	for _, c := range cs {
		r.next.Unregister(c)
	}
}
