package self

import "github.com/sondehq/sonde/pipeline"

// Arguments configure prometheus.exporter.self.
type Arguments struct {
	// Job labels the published target.
	Job string `yaml:"job"`
	// Instance labels the published target; defaults to the host name.
	Instance string `yaml:"instance"`
}

// DefaultArguments returns the defaults.
func DefaultArguments() *Arguments { return &Arguments{Job: "sonde"} }

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	if a.Job == "" {
		return pipeline.Field("job", "must not be empty")
	}
	return nil
}
