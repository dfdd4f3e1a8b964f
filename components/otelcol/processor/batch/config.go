package batch

import (
	"errors"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.processor.batch.
//
//	otelcol.processor.batch/default:
//	  timeout: 200ms
//	  send_batch_size: 8192
//	  send_batch_max_size: 16384
//	  wait_for_result: true
//	  output: {traces: [otelcol.exporter.otlp/tempo]}
type Arguments struct {
	// Timeout is the longest data waits for its batch to fill.
	Timeout model.Duration `yaml:"timeout"`
	// SendBatchSize sends a batch as soon as it holds this many spans, metric data points
	// or log records.
	SendBatchSize int `yaml:"send_batch_size"`
	// SendBatchMaxSize splits larger batches (0: no limit). Metrics are split between
	// metrics, never inside one.
	SendBatchMaxSize int `yaml:"send_batch_max_size"`
	// WaitForResult answers a sender only once the batch its data went into was sent on,
	// with the next component's answer: a 200 then means the next component has the data
	// (on disk, in the WAL, acknowledged by Loki), and nothing waits in this component's
	// memory unconfirmed. Off (the collector's behaviour), senders are answered as soon as
	// their data is in the batch.
	WaitForResult bool `yaml:"wait_for_result"`
	// Output names the components that receive the batches, per signal.
	Output otelcol.Output `yaml:"output"`
}

// DefaultArguments returns Arguments with the collector's defaults.
func DefaultArguments() *Arguments {
	return &Arguments{Timeout: model.Duration(200 * time.Millisecond), SendBatchSize: 8192}
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference { return a.Output.References("output") }

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if a.Timeout <= 0 {
		errs = append(errs, pipeline.Field("timeout", "must be positive, got %s", a.Timeout))
	}
	if a.SendBatchSize <= 0 {
		errs = append(errs, pipeline.Field("send_batch_size", "must be positive, got %d", a.SendBatchSize))
	}
	if a.SendBatchMaxSize < 0 || a.SendBatchMaxSize > 0 && a.SendBatchMaxSize < a.SendBatchSize {
		errs = append(errs, pipeline.Field("send_batch_max_size", "must be 0 or at least send_batch_size (%d), got %d", a.SendBatchSize, a.SendBatchMaxSize))
	}
	if a.Output.Empty() {
		errs = append(errs, pipeline.Field("output", "at least one of traces, metrics and logs is required"))
	}
	return errors.Join(errs...)
}
