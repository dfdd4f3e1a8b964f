package monitor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// metrics are a monitors component's own; the controller labels them with the component id.
type metrics struct {
	monitors  *prometheus.GaugeVec
	endpoints *prometheus.GaugeVec
	ignored   prometheus.Gauge
	input     prometheus.Gauge
	output    prometheus.Gauge
	wrongRole prometheus.Gauge
	publishes prometheus.Counter
	// badIngresses counts the Ingresses a Probe cannot read (probes only).
	badIngresses prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		monitors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sonde_prometheus_operator_monitors",
			Help: "Number of monitors read, by state: valid, or invalid (a field is wrong; the endpoints it affects are not scraped).",
		}, []string{"state"}),
		endpoints: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sonde_prometheus_operator_endpoints",
			Help: "Number of monitor endpoints, by state: active (a scrape job), or skipped (they set a field sonde does not support that changes how targets are reached: oauth2, a proxy, a file of the operator's Prometheus).",
		}, []string{"state"}),
		ignored: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_prometheus_operator_ignored_fields",
			Help: "Number of fields set in the monitors that sonde does not support and ignores (sampleLimit, honorTimestamps ...); the component's logs and debug info name them.",
		}),
		input: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_prometheus_operator_input_targets",
			Help: "Number of targets in the latest input snapshot.",
		}),
		output: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_prometheus_operator_output_targets",
			Help: "Number of targets in the latest published snapshot (one per target and scrape job).",
		}),
		wrongRole: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_prometheus_operator_unusable_input_targets",
			Help: "Number of input targets of a discovery role the monitors cannot read (servicemonitors read endpointslice or endpoints targets, podmonitors pod targets).",
		}),
		publishes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_prometheus_operator_publishes_total",
			Help: "Number of changed target snapshots published.",
		}),
		badIngresses: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_prometheus_operator_unreadable_ingresses",
			Help: "Number of Ingresses that cannot be read as networking.k8s.io/v1 Ingresses (probes only).",
		}),
	}
}

// register adds the metrics to reg, in New; the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.monitors, m.endpoints, m.ignored, m.input, m.output, m.wrongRole, m.publishes, m.badIngresses)
}

func (m *metrics) observe(valid, invalid, jobs, skipped, ignored, in, out, wrongRole int) {
	m.monitors.WithLabelValues("valid").Set(float64(valid))
	m.monitors.WithLabelValues("invalid").Set(float64(invalid))
	m.endpoints.WithLabelValues("active").Set(float64(jobs))
	m.endpoints.WithLabelValues("skipped").Set(float64(skipped))
	m.ignored.Set(float64(ignored))
	m.input.Set(float64(in))
	m.output.Set(float64(out))
	m.wrongRole.Set(float64(wrongRole))
}
