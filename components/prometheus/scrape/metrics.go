package scrape

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics registers prometheus.scrape's own metrics (each scrape manager registers
// Prometheus' prometheus_target_* metrics itself).
func registerMetrics(reg prometheus.Registerer, c *Component) error {
	if reg == nil {
		return nil
	}
	targets := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sonde_prometheus_scrape_targets",
		Help: "Number of targets being scraped.",
	}, func() float64 { return float64(len(c.Targets())) })
	down := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sonde_prometheus_scrape_targets_down",
		Help: "Number of targets whose last scrape failed, at the last health check.",
	}, func() float64 { return float64(c.health.down.Load()) })
	for _, m := range []prometheus.Collector{targets, down} {
		if err := reg.Register(m); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}
