package relabel

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// metrics are discovery.relabel's own metrics; the controller labels them with the
// component id.
type metrics struct {
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

// register adds the metrics to reg, in New; the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.input, m.output, m.dropped, m.published)
}

func (m *metrics) observe(in, out int) {
	m.input.Set(float64(in))
	m.output.Set(float64(out))
	m.dropped.Set(float64(in - out))
}
