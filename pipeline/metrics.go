package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
)

// controllerMetrics exports the health of every component as
// sonde_component_health{component_id,type,state} (1 for the current state).
type controllerMetrics struct {
	c      *Controller
	health *prometheus.Desc
	count  *prometheus.Desc
}

func newControllerMetrics(reg prometheus.Registerer, c *Controller) *controllerMetrics {
	m := &controllerMetrics{
		c: c,
		health: prometheus.NewDesc("sonde_component_health",
			"Current health of each component: 1 for its state, 0 for the others.",
			[]string{"component_id", "type", "state"}, nil),
		count: prometheus.NewDesc("sonde_components",
			"Number of components in the running graph.", nil, nil),
	}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

var healthStates = []HealthState{HealthStarting, HealthHealthy, HealthUnhealthy, HealthUnavailable, HealthStopped}

func (m *controllerMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.health
	ch <- m.count
}

func (m *controllerMetrics) Collect(ch chan<- prometheus.Metric) {
	comps := m.c.Components()
	ch <- prometheus.MustNewConstMetric(m.count, prometheus.GaugeValue, float64(len(comps)))
	for _, ci := range comps {
		for _, s := range healthStates {
			v := 0.0
			if ci.Health.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(m.health, prometheus.GaugeValue, v, ci.ID, ci.Type, string(s))
		}
	}
}
