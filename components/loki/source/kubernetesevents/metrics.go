package kubernetesevents

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sondehq/sonde/pipeline"
)

// Reasons an event update is not forwarded (the skipped counter's reason label).
const (
	skipDelivered = "delivered_before" // older than the previous leader's delivered mark less failover_overlap
	skipUnchanged = "unchanged"        // the same version again (a relist after a watch expired)
	skipNoObject  = "no_object"        // no involved object: nothing to describe
)

// metrics are loki.source.kubernetes_events' own metrics; the controller labels them with
// the component id.
type metrics struct {
	leader       prometheus.Gauge
	transitions  prometheus.Counter
	received     prometheus.Counter
	forwarded    prometheus.Counter
	skipped      *prometheus.CounterVec
	batchesAcked *prometheus.CounterVec
	mark         prometheus.Gauge
	leaseErrors  prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_loki_source_kubernetes_events_leader",
			Help: "1 while this agent holds the Lease and forwards the cluster's events, 0 while it stands by.",
		}),
		transitions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_events_leader_transitions_total",
			Help: "Times this agent started or stopped leading.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_events_received_total",
			Help: "Event versions received from the API server while leading (initial lists included).",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_events_forwarded_total",
			Help: "Event lines forward_to accepted.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_events_skipped_total",
			Help: "Event versions not forwarded, by reason (delivered_before: delivered by a previous leader; unchanged: the same version listed again; no_object: no involved object).",
		}, []string{"reason"}),
		batchesAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_events_batches_acked_total",
			Help: "Batches acknowledged by forward_to, by result (success, error).",
		}, []string{"result"}),
		mark: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_loki_source_kubernetes_events_delivered_timestamp_seconds",
			Help: "The delivered mark this agent knows (its own while leading, the leader's from the Lease otherwise): the time of the newest event acknowledged downstream.",
		}),
		leaseErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_loki_source_kubernetes_events_lease_errors_total",
			Help: "Failed requests to the Lease (refused, unreachable); a missing Lease or a lost race is not counted.",
		}),
	}
	for _, r := range []string{skipDelivered, skipUnchanged, skipNoObject} {
		m.skipped.WithLabelValues(r)
	}
	for _, r := range []string{"success", "error"} {
		m.batchesAcked.WithLabelValues(r)
	}
	return m
}

// register registers the metrics on reg; New calls it, the controller unregisters them.
func (m *metrics) register(reg prometheus.Registerer) error {
	return pipeline.RegisterAll(reg, m.leader, m.transitions, m.received, m.forwarded, m.skipped, m.batchesAcked, m.mark, m.leaseErrors)
}
