package scrape

import (
	"github.com/prometheus/prometheus/config"

	"github.com/sondehq/sonde/components/prometheus/internal/scrapemgr"
)

// startManager starts a scrape manager appending into forwardTo and records it for
// Targets.
func (c *Component) startManager(forwardTo []string) (*scrapemgr.Manager, error) {
	args, _ := c.current()
	m, err := scrapemgr.Start(scrapemgr.Options{
		Logger:          c.opts.Logger,
		Registerer:      c.opts.Registerer,
		Appendable:      c.opts.Host.Appendable(forwardTo),
		ScrapeInterval:  args.ScrapeInterval,
		StartTimestamps: args.StartTimestamps,
	})
	if err != nil {
		return nil, err
	}
	c.setManager(m)
	return m, nil
}

func (c *Component) setManager(mgr *scrapemgr.Manager) {
	c.mu.Lock()
	c.mgr = mgr
	c.mu.Unlock()
}

// apply hands sc, the component's one job, to the manager.
func apply(m *scrapemgr.Manager, sc *config.ScrapeConfig) error {
	return m.Apply(globalConfig(sc.ScrapeInterval), []*config.ScrapeConfig{sc})
}
