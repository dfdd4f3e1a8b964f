package promrelabel

import (
	"errors"

	"github.com/prometheus/prometheus/model/relabel"

	"github.com/sondehq/sonde/internal/targets"
	"github.com/sondehq/sonde/pipeline"
)

// DefaultMaxCacheSize is the default bound on cached relabelling results (one per input
// series).
const DefaultMaxCacheSize = 100000

// Arguments configure prometheus.relabel.
//
//	prometheus.relabel/drop_go:
//	  forward_to: [prometheus.remote_write/default]
//	  rules:
//	    - {source_labels: [__name__], regex: "go_.*", action: drop}
//	  max_cache_size: 100000
type Arguments struct {
	// ForwardTo are the ids of the components that receive the relabelled samples.
	ForwardTo []string `yaml:"forward_to"`
	// Rules are Prometheus metric_relabel_configs, applied in order to every series.
	Rules []*relabel.Config `yaml:"rules"`
	// MaxCacheSize bounds the number of input series whose result is cached; when the
	// cache is full it is emptied and refilled. 0 turns caching off.
	MaxCacheSize int `yaml:"max_cache_size"`
}

// DefaultArguments returns Arguments with their defaults.
func DefaultArguments() *Arguments {
	return &Arguments{MaxCacheSize: DefaultMaxCacheSize}
}

// Validate implements pipeline.Arguments; it also completes the rules for use.
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.ForwardTo) == 0 {
		errs = append(errs, pipeline.Field("forward_to", "at least one component id is required"))
	}
	for i, id := range a.ForwardTo {
		if id == "" {
			errs = append(errs, pipeline.Field("forward_to", "entry %d is empty", i))
		}
	}
	if a.MaxCacheSize < 0 {
		errs = append(errs, pipeline.Field("max_cache_size", "must not be negative, got %d", a.MaxCacheSize))
	}
	errs = append(errs, targets.ValidateRules("rules", a.Rules))
	return errors.Join(errs...)
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindMetrics, IDs: a.ForwardTo}}
}
