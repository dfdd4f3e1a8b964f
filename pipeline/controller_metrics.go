package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// controllerMetrics exports the health of every component as
// sonde_component_health{component_id,type,state} (1 for the current state), its restarts
// after failed runs and whether it is crash-looping (which makes the agent unready).
type controllerMetrics struct {
	c         *Controller
	health    *prometheus.Desc
	count     *prometheus.Desc
	restarts  *prometheus.Desc
	crashLoop *prometheus.Desc
}

func newControllerMetrics(reg prometheus.Registerer, c *Controller) *controllerMetrics {
	m := &controllerMetrics{
		c: c,
		health: prometheus.NewDesc("sonde_component_health",
			"Current health of each component: 1 for its state, 0 for the others.",
			[]string{"component_id", "type", "state"}, nil),
		count: prometheus.NewDesc("sonde_components",
			"Number of components in the running graph.", nil, nil),
		restarts: prometheus.NewDesc("sonde_component_restarts_total",
			"Restarts of each component after its Run failed (a reload that replaces a component starts it at 0).",
			[]string{"component_id", "type"}, nil),
		crashLoop: prometheus.NewDesc("sonde_component_crash_looping",
			fmt.Sprintf("1 while a component's Run has failed %d times in a row without running %s in between; the agent is then not ready.",
				CrashLoopFailures, StableRun),
			[]string{"component_id", "type"}, nil),
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
	ch <- m.restarts
	ch <- m.crashLoop
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
		ch <- prometheus.MustNewConstMetric(m.restarts, prometheus.CounterValue, float64(ci.Restarts), ci.ID, ci.Type)
		crash := 0.0
		if ci.CrashLoop != nil {
			crash = 1
		}
		ch <- prometheus.MustNewConstMetric(m.crashLoop, prometheus.GaugeValue, crash, ci.ID, ci.Type)
	}
}
