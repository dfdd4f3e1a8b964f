package sharding

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are discovery.shard's own metrics; the controller labels them with the
// component id.
type metrics struct {
	reg     prometheus.Registerer
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

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.members, m.member, m.input, m.owned, m.changes}
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

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}
