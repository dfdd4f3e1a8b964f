package scrape

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	promscrape "github.com/prometheus/prometheus/scrape"

	"github.com/sondehq/sonde/components/prometheus/internal/scrapemgr"
	"github.com/sondehq/sonde/pipeline"
)

// targetsSummary counts the targets by the health of their last scrape.
type targetsSummary struct {
	total, up, down int
	// err is the error of the first target down (by URL), as Prometheus reports it.
	err string
}

// summarize reads the health of every active target of mgr.
func summarize(mgr *scrapemgr.Manager) targetsSummary {
	var s targetsSummary
	firstURL := ""
	for _, ts := range mgr.TargetsActive() {
		for _, t := range ts {
			s.total++
			switch t.Health() {
			case promscrape.HealthGood:
				s.up++
			case promscrape.HealthBad:
				s.down++
				if u := t.URL().String(); firstURL == "" || u < firstURL {
					firstURL = u
					if err := t.LastError(); err != nil {
						s.err = err.Error()
					} else {
						s.err = "unknown error"
					}
				}
			}
		}
	}
	return s
}

// scraped is the number of targets scraped at least once.
func (s targetsSummary) scraped() int { return s.up + s.down }

// unhealthy reports whether at least ratio of the scraped targets are down; a ratio of 0
// never is.
func (s targetsSummary) unhealthy(ratio float64) bool {
	// The epsilon keeps 3 of 10 down at ratio 0.3 unhealthy despite float rounding.
	return ratio > 0 && s.down > 0 && float64(s.down)/float64(s.scraped()) >= ratio-1e-9
}

func (s targetsSummary) message() string {
	return fmt.Sprintf("%d/%d targets down: %s", s.down, s.scraped(), s.err)
}

// healthReporter turns the state of the scrape configuration and of the targets' last
// scrapes into the component's health, and logs when the targets go down or come back:
// once per transition, never per scrape. Used by Run's goroutine only (down, for the
// metric, excepted).
type healthReporter struct {
	health *pipeline.Health
	logger *slog.Logger

	applyErr error // the scrape config the manager refused, if it did
	failing  bool  // the targets were last found unhealthy
	msg      string
	down     atomic.Int64 // targets down at the last check, for sonde_prometheus_scrape_targets_down
}

// configApplied records the outcome of handing the manager a scrape config.
func (h *healthReporter) configApplied(err error) {
	h.applyErr = err
	h.set()
}

// targets records the targets' health. While no target has been scraped yet (just
// started, or the target set was replaced) the previous finding stands.
func (h *healthReporter) targets(s targetsSummary, ratio float64) {
	h.down.Store(int64(s.down))
	if s.total > 0 && s.scraped() == 0 {
		return
	}
	failing := s.unhealthy(ratio)
	switch {
	case failing && !h.failing:
		h.logger.Warn("scrape targets down; component unhealthy", "down", s.down, "scraped", s.scraped(), "err", s.err)
	case !failing && h.failing:
		h.logger.Info("scrape targets back up; component healthy", "up", s.up, "down", s.down, "scraped", s.scraped())
	}
	h.failing, h.msg = failing, s.message()
	h.set()
}

func (h *healthReporter) set() {
	switch {
	case h.applyErr != nil:
		h.health.Set(pipeline.HealthUnhealthy, "applying scrape config: "+h.applyErr.Error())
	case h.failing:
		h.health.Set(pipeline.HealthUnhealthy, h.msg)
	default:
		h.health.Set(pipeline.HealthHealthy, "")
	}
}
