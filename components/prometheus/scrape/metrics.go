package scrape

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics registers prometheus.scrape's own metrics (the scrape manager registers
// Prometheus' prometheus_target_* metrics itself) and returns their unregistration.
func registerMetrics(reg prometheus.Registerer, c *Component) (func(), error) {
	if reg == nil {
		return func() {}, nil
	}
	targets := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sonde_prometheus_scrape_targets",
		Help: "Number of targets being scraped.",
	}, func() float64 { return float64(len(c.Targets())) })
	down := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sonde_prometheus_scrape_targets_down",
		Help: "Number of targets whose last scrape failed, at the last health check.",
	}, func() float64 { return float64(c.health.down.Load()) })
	if err := reg.Register(targets); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := reg.Register(down); err != nil {
		reg.Unregister(targets)
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return func() { reg.Unregister(targets); reg.Unregister(down) }, nil
}
