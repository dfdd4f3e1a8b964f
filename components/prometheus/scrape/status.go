package scrape

import (
	"cmp"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// TargetStatus is the state of one scraped target, for the UI and debugging.
type TargetStatus struct {
	// URL is what is scraped.
	URL string `json:"url"`
	// Labels are the target's public labels (job, instance and the target's own).
	Labels labels.Labels `json:"labels"`
	// DiscoveredLabels are the target's labels as received, __meta_* and __address__ included.
	DiscoveredLabels labels.Labels `json:"discovered_labels"`
	// Health is "up", "down" or "unknown" (not scraped yet).
	Health string `json:"health"`
	// LastScrape is when the last scrape started; zero before the first.
	LastScrape time.Time `json:"last_scrape"`
	// LastScrapeDuration is how long the last scrape took.
	LastScrapeDuration time.Duration `json:"last_scrape_duration"`
	// LastError is the last scrape's error; empty when it succeeded.
	LastError string `json:"last_error,omitempty"`
}

// Targets returns the status of every target being scraped, sorted by URL; nil when the
// component is not running.
func (c *Component) Targets() []TargetStatus {
	c.mu.Lock()
	mgr := c.mgr
	c.mu.Unlock()
	if mgr == nil {
		return nil
	}
	var out []TargetStatus
	lb := labels.NewBuilder(labels.EmptyLabels())
	for _, ts := range mgr.TargetsActive() {
		for _, t := range ts {
			s := TargetStatus{
				URL:                t.URL().String(),
				Labels:             t.Labels(lb),
				DiscoveredLabels:   t.DiscoveredLabels(lb),
				Health:             string(t.Health()),
				LastScrape:         t.LastScrape(),
				LastScrapeDuration: t.LastScrapeDuration(),
			}
			if err := t.LastError(); err != nil {
				s.LastError = err.Error()
			}
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b TargetStatus) int {
		return cmp.Or(cmp.Compare(a.URL, b.URL), labels.Compare(a.Labels, b.Labels))
	})
	return out
}
