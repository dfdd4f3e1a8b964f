package shard

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// metrics are discovery.shard's own metrics; the controller labels them with the
// component id.
type metrics struct {
	members prometheus.Gauge
	member  prometheus.Gauge
	input   prometheus.Gauge
	owned   prometheus.Gauge
	changes prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_shard_members",
			Help: "Number of ready agents the targets are shared out over.",
		}),
		member: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_shard_member",
			Help: "1 when this agent is a member (its pod is ready), else 0 (it owns nothing).",
		}),
		input: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_shard_input_targets",
			Help: "Number of targets to share out.",
		}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_discovery_shard_owned_targets",
			Help: "Number of targets this agent owns.",
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_discovery_shard_membership_changes_total",
			Help: "Number of changes of the member list.",
		}),
	}
}

// register adds the metrics to reg, in New; the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.members, m.member, m.input, m.owned, m.changes)
}
