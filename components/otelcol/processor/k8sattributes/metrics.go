package k8sattributes

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	resources *prometheus.CounterVec
	pods      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		resources: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_otelcol_processor_k8sattributes_resources_total",
			Help: "Resources looked at, by result: enriched, not_found (no pod of this node matches), no_identity (nothing to look a pod up by).",
		}, []string{"result"}),
		pods: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_otelcol_processor_k8sattributes_pods",
			Help: "Pods known from the pod targets.",
		}),
	}
	for _, r := range []string{resultEnriched, resultNotFound, resultNoIdentity} {
		m.resources.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.resources, m.pods)
	}
	return m
}
