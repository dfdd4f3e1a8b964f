package serve

import (
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure prometheus.serve.
type Arguments struct {
	// MaxSeries bounds the series kept; samples of further new series are dropped and
	// counted.
	MaxSeries int `yaml:"max_series"`
	// StaleAfter forgets series that received no sample for this long.
	StaleAfter model.Duration `yaml:"stale_after"`
}

// DefaultArguments returns the defaults.
func DefaultArguments() *Arguments {
	return &Arguments{MaxSeries: 100000, StaleAfter: model.Duration(5 * time.Minute)}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	if a.MaxSeries <= 0 {
		return pipeline.Field("max_series", "must be positive, got %d", a.MaxSeries)
	}
	if a.StaleAfter <= 0 {
		return pipeline.Field("stale_after", "must be positive, got %s", a.StaleAfter)
	}
	return nil
}
