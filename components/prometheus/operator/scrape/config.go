package scrape

import (
	"errors"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/internal/kube"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure prometheus.operator.scrape.
//
//	prometheus.operator.scrape/servicemonitors:
//	  targets: [discovery.shard/servicemonitors]
//	  forward_to: [prometheus.remote_write/default]
type Arguments struct {
	// Targets are the ids of the components whose targets are scraped: the
	// prometheus.operator.* components, directly or through discovery.shard.
	Targets []string `yaml:"targets"`
	// ForwardTo are the ids of the components that receive the samples. Required.
	ForwardTo []string `yaml:"forward_to"`
	// ScrapeInterval is how often a target is scraped when its monitor sets no interval.
	ScrapeInterval model.Duration `yaml:"scrape_interval"`
	// ScrapeTimeout bounds a scrape when its monitor sets no scrapeTimeout; 0: 10s, capped
	// at the interval.
	ScrapeTimeout model.Duration `yaml:"scrape_timeout"`
	// BodySizeLimit fails scrapes whose uncompressed body is larger; 0: no limit.
	BodySizeLimit units.Base2Bytes `yaml:"body_size_limit"`
	// SecretsRefreshInterval is how often the Secrets and ConfigMaps the monitors reference
	// are read again, so that rotated credentials are used.
	SecretsRefreshInterval model.Duration `yaml:"secrets_refresh_interval"`

	kube.ClientArgs `yaml:",inline"`
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments {
	return &Arguments{
		ScrapeInterval:         model.Duration(15 * time.Second),
		BodySizeLimit:          100 * units.MiB,
		SecretsRefreshInterval: model.Duration(time.Minute),
		ClientArgs:             kube.DefaultClientArgs(),
	}
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{
		{Field: "targets", Kind: pipeline.KindTargets, IDs: a.Targets},
		{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo},
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	for field, ids := range map[string][]string{"targets": a.Targets, "forward_to": a.ForwardTo} {
		if len(ids) == 0 {
			errs = append(errs, pipeline.Field(field, "at least one component id is required"))
		}
		for i, id := range ids {
			if id == "" {
				errs = append(errs, pipeline.Field(field, "entry %d is empty", i))
			}
		}
	}
	if a.ScrapeInterval <= 0 {
		errs = append(errs, pipeline.Field("scrape_interval", "must be positive"))
	}
	if a.ScrapeTimeout < 0 {
		errs = append(errs, pipeline.Field("scrape_timeout", "must not be negative"))
	} else if a.ScrapeInterval > 0 && a.ScrapeTimeout > a.ScrapeInterval {
		errs = append(errs, pipeline.Field("scrape_timeout", "%s is longer than scrape_interval %s", a.ScrapeTimeout, a.ScrapeInterval))
	}
	if a.BodySizeLimit < 0 {
		errs = append(errs, pipeline.Field("body_size_limit", "must not be negative"))
	}
	if a.SecretsRefreshInterval <= 0 {
		errs = append(errs, pipeline.Field("secrets_refresh_interval", "must be positive"))
	}
	errs = append(errs, a.ClientArgs.Validate(pipeline.Field))
	return errors.Join(errs...)
}

func (a *Arguments) timeout() model.Duration {
	if a.ScrapeTimeout > 0 {
		return a.ScrapeTimeout
	}
	return min(model.Duration(10*time.Second), a.ScrapeInterval)
}
