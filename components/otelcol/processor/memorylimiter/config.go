package memorylimiter

import (
	"errors"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.processor.memory_limiter.
//
//	otelcol.processor.memory_limiter/default:
//	  limit_percentage: 80        # of the container's memory limit (or the machine's memory)
//	  spike_limit_percentage: 20
//	  output: {traces: [otelcol.processor.batch/default]}
//
// Data is refused while the Go heap is above limit - spike_limit (the soft limit); above
// limit itself, a garbage collection is forced as well.
type Arguments struct {
	// CheckInterval is how often the heap is measured.
	CheckInterval model.Duration `yaml:"check_interval"`
	// Limit is the hard limit in bytes; or LimitPercentage of the memory available.
	Limit units.ByteSize `yaml:"limit,omitempty"`
	// LimitPercentage is the hard limit as a percentage (1 to 100) of the memory available
	// (the cgroup's limit, else the host's memory); instead of limit.
	LimitPercentage int `yaml:"limit_percentage,omitempty"`
	// SpikeLimit is the head room kept below Limit for the data arriving between two
	// checks (default 20% of the limit); or SpikeLimitPercentage of the memory available.
	SpikeLimit units.ByteSize `yaml:"spike_limit,omitempty"`
	// SpikeLimitPercentage is the head room as a percentage (0 to 100) of the memory
	// available; instead of spike_limit.
	SpikeLimitPercentage int `yaml:"spike_limit_percentage,omitempty"`
	// RetryAfter is the delay refused senders are asked to wait (gRPC RetryInfo, HTTP
	// Retry-After in whole seconds).
	RetryAfter model.Duration `yaml:"retry_after"`
	// Output names the components that receive the data it lets through, per signal.
	Output otelcol.Output `yaml:"output"`
}

// DefaultArguments returns Arguments with their defaults; a limit is required.
func DefaultArguments() *Arguments {
	return &Arguments{CheckInterval: model.Duration(time.Second), RetryAfter: model.Duration(time.Second)}
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference { return a.Output.References("output") }

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if a.CheckInterval <= 0 {
		errs = append(errs, pipeline.Field("check_interval", "must be positive, got %s", a.CheckInterval))
	}
	switch {
	case a.Limit == 0 && a.LimitPercentage == 0:
		errs = append(errs, pipeline.Field("limit", "one of limit and limit_percentage is required"))
	case a.Limit != 0 && a.LimitPercentage != 0:
		errs = append(errs, pipeline.Field("limit_percentage", "limit and limit_percentage exclude each other"))
	case a.LimitPercentage < 0 || a.LimitPercentage > 100:
		errs = append(errs, pipeline.Field("limit_percentage", "must be between 1 and 100, got %d", a.LimitPercentage))
	}
	if a.SpikeLimit != 0 && a.SpikeLimitPercentage != 0 {
		errs = append(errs, pipeline.Field("spike_limit_percentage", "spike_limit and spike_limit_percentage exclude each other"))
	}
	if a.SpikeLimitPercentage < 0 || a.SpikeLimitPercentage > 100 {
		errs = append(errs, pipeline.Field("spike_limit_percentage", "must be between 0 and 100, got %d", a.SpikeLimitPercentage))
	}
	if a.Limit != 0 && a.SpikeLimit >= a.Limit {
		errs = append(errs, pipeline.Field("spike_limit", "must be below limit (%s), got %s", a.Limit, a.SpikeLimit))
	}
	if a.LimitPercentage != 0 && a.SpikeLimitPercentage >= a.LimitPercentage {
		errs = append(errs, pipeline.Field("spike_limit_percentage", "must be below limit_percentage (%d), got %d", a.LimitPercentage, a.SpikeLimitPercentage))
	}
	if a.RetryAfter <= 0 {
		errs = append(errs, pipeline.Field("retry_after", "must be positive, got %s", a.RetryAfter))
	}
	if a.Output.Empty() {
		errs = append(errs, pipeline.Field("output", "at least one of traces, metrics and logs is required"))
	}
	return errors.Join(errs...)
}

// limits returns the hard and soft limits in bytes, given the memory available.
func (a *Arguments) limits(total uint64) (hard, soft uint64, err error) {
	switch {
	case a.Limit != 0:
		hard = uint64(a.Limit)
	case total == 0:
		return 0, 0, errors.New("limit_percentage: the memory available is unknown here; set limit instead")
	default:
		hard = total / 100 * uint64(a.LimitPercentage)
	}
	var spike uint64
	switch {
	case a.SpikeLimit != 0:
		spike = uint64(a.SpikeLimit)
	case a.SpikeLimitPercentage != 0 && total != 0:
		spike = total / 100 * uint64(a.SpikeLimitPercentage)
	default:
		spike = hard / 5
	}
	if spike >= hard {
		return 0, 0, errors.New("spike_limit_percentage: the spike limit is not below the limit")
	}
	return hard, hard - spike, nil
}
