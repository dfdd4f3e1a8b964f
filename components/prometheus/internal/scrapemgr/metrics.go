package scrapemgr

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a manager's own metrics, under the names Prometheus' scrape manager gives
// them (prometheus_target_*), so that its dashboards and alerts apply.
type metrics struct {
	reg                                        prometheus.Registerer
	collectors                                 []prometheus.Collector
	pools, poolsFailed, reloads, reloadsFailed prometheus.Counter
	sampleLimit, bucketLimit, bodySizeLimit    prometheus.Counter
	labelLimit, targetLimit                    prometheus.Counter
	outOfOrder, duplicate, outOfBounds         prometheus.Counter
	syncFailed                                 *prometheus.CounterVec
	poolTargets                                *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		reg:           reg,
		pools:         counter("prometheus_target_scrape_pools_total", "Total number of scrape pool creation attempts."),
		poolsFailed:   counter("prometheus_target_scrape_pools_failed_total", "Total number of scrape pool creations that failed."),
		reloads:       counter("prometheus_target_scrape_pool_reloads_total", "Total number of scrape pool reloads."),
		reloadsFailed: counter("prometheus_target_scrape_pool_reloads_failed_total", "Total number of failed scrape pool reloads."),
		sampleLimit:   counter("prometheus_target_scrapes_exceeded_sample_limit_total", "Total number of scrapes that hit the sample limit and were rejected."),
		bucketLimit:   counter("prometheus_target_scrapes_exceeded_native_histogram_bucket_limit_total", "Total number of scrapes that hit the native histogram bucket limit and were rejected."),
		bodySizeLimit: counter("prometheus_target_scrapes_exceeded_body_size_limit_total", "Total number of scrapes that hit the body size limit."),
		labelLimit:    counter("prometheus_target_scrape_pool_exceeded_label_limits_total", "Total number of times scrape pools hit the label limits, during sync or config reload."),
		targetLimit:   counter("prometheus_target_scrape_pool_exceeded_target_limit_total", "Total number of times scrape pools hit the target limit, during sync or config reload."),
		outOfOrder:    counter("prometheus_target_scrapes_sample_out_of_order_total", "Total number of samples rejected due to not being out of the expected order."),
		duplicate:     counter("prometheus_target_scrapes_sample_duplicate_timestamp_total", "Total number of samples rejected due to duplicate timestamps but different values."),
		outOfBounds:   counter("prometheus_target_scrapes_sample_out_of_bounds_total", "Total number of samples rejected due to timestamp falling outside of the time bounds."),
		syncFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prometheus_target_sync_failed_total", Help: "Total number of target sync failures.",
		}, []string{"scrape_job"}),
		poolTargets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "prometheus_target_scrape_pool_targets", Help: "Current number of targets in this scrape pool.",
		}, []string{"scrape_job"}),
	}
	m.collectors = []prometheus.Collector{m.pools, m.poolsFailed, m.reloads, m.reloadsFailed, m.sampleLimit,
		m.bucketLimit, m.bodySizeLimit, m.labelLimit, m.targetLimit, m.outOfOrder, m.duplicate, m.outOfBounds,
		m.syncFailed, m.poolTargets}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, r := range m.collectors[:i] {
				reg.Unregister(r)
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
