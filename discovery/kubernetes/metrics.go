package kubernetes

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// metrics are discovery.kubernetes' own metrics; the controller labels them with the
// component id.
type metrics struct {
	events    *prometheus.CounterVec // handed to Prometheus' discoverers
	targets   prometheus.Gauge
	publishes prometheus.Counter
	failures  prometheus.CounterFunc

	mu   sync.Mutex
	infs []*kube.Informer // guarded by mu; the informers of the current set, summed by failures
}

func newMetrics() *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_discovery_kubernetes_events_total",
			Help: "Kubernetes object events handled, by object role and event (add, update, delete).",
		}, []string{"role", "event"}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_kubernetes_targets",
			Help: "Number of targets in the latest snapshot.",
		}),
		publishes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_discovery_kubernetes_publishes_total",
			Help: "Number of changed target snapshots published.",
		}),
	}
	m.failures = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sonde_discovery_kubernetes_watch_failures_total",
		Help: "Failed list and watch requests of the (shared) informers this component uses.",
	}, func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		var n uint64
		for _, i := range m.infs {
			n += i.Failures()
		}
		return float64(n)
	})
	return m
}

func (m *metrics) setSet(s *discoverySet) {
	m.mu.Lock()
	m.infs = append([]*kube.Informer(nil), s.informers...)
	m.mu.Unlock()
}

// register adds the metrics to reg, in New; the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.events, m.targets, m.publishes, m.failures)
}
