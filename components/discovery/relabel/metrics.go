package relabel

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are discovery.relabel's own metrics; the controller labels them with the
// component id.
type metrics struct {
	reg       prometheus.Registerer
	input     prometheus.Gauge
	output    prometheus.Gauge
	dropped   prometheus.Gauge
	published prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		input: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_relabel_input_targets",
			Help: "Number of targets in the latest input snapshot.",
		}),
		output: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_relabel_output_targets",
			Help: "Number of targets in the latest published snapshot.",
		}),
		dropped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_relabel_dropped_targets",
			Help: "Number of targets of the latest input snapshot that the rules dropped.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_discovery_relabel_publishes_total",
			Help: "Number of changed target snapshots published.",
		}),
	}
}

// register adds the metrics to reg (nil: none); undo with unregister.
func (m *metrics) register(reg prometheus.Registerer) error {
	m.reg = reg
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.unregister()
		return err
	}
	return nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.input, m.output, m.dropped, m.published}
}

func (m *metrics) observe(in, out int) {
	m.input.Set(float64(in))
	m.output.Set(float64(out))
	m.dropped.Set(float64(in - out))
}

// unregister removes the metrics, so that a restarted component can register them again.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}
