package base

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"golang.org/x/net/http/httpguts"

	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Queue configures an exporter's sending queue: data waits there for a sender, so that
// OTLP clients are answered as soon as their data is queued.
type Queue struct {
	// Enabled turns the queue on (default). Off, senders wait for the export itself.
	Enabled bool `yaml:"enabled"`
	// NumConsumers is the number of concurrent exports.
	NumConsumers int `yaml:"num_consumers"`
	// Sizer says what QueueSize counts: requests (default), items (spans, points,
	// records) or bytes.
	Sizer string `yaml:"sizer"`
	// QueueSize bounds the queue; when it is full, senders are answered 429 /
	// RESOURCE_EXHAUSTED and retry later (or wait, with block_on_overflow).
	QueueSize int64 `yaml:"queue_size"`
	// BlockOnOverflow makes senders wait for room instead of being refused.
	BlockOnOverflow bool `yaml:"block_on_overflow"`
	// Persistent keeps the queue on disk under the component's data directory, so what it
	// holds survives a restart of sonde (at-least-once: a request being sent when sonde
	// stops is sent again).
	Persistent bool `yaml:"persistent"`
}

// Retry configures retries of failed exports (retryable answers only: gRPC UNAVAILABLE,
// RESOURCE_EXHAUSTED with RetryInfo…; HTTP 429, 502, 503, 504), with exponential backoff
// and the server's RetryInfo / Retry-After delay when it gives one.
type Retry struct {
	// Enabled turns retries on (default). Off, a failed export drops its data (counted).
	Enabled bool `yaml:"enabled"`
	// InitialInterval is the wait before the first retry.
	InitialInterval model.Duration `yaml:"initial_interval"`
	// MaxInterval bounds the wait between two retries.
	MaxInterval model.Duration `yaml:"max_interval"`
	// Multiplier grows the wait after each retry.
	Multiplier float64 `yaml:"multiplier"`
	// RandomizationFactor spreads each wait at random by up to this fraction either way,
	// so that exporters that failed together do not retry together.
	RandomizationFactor float64 `yaml:"randomization_factor"`
	// MaxElapsedTime gives up on a request after this long (0: never); given-up data is
	// dropped and counted.
	MaxElapsedTime model.Duration `yaml:"max_elapsed_time"`
}

// Common are the arguments both OTLP exporters share.
type Common struct {
	// Timeout bounds one export attempt.
	Timeout model.Duration `yaml:"timeout"`
	// SendingQueue holds the data waiting to be exported.
	SendingQueue Queue `yaml:"sending_queue"`
	// RetryOnFailure says whether and how failed exports are retried.
	RetryOnFailure Retry `yaml:"retry_on_failure"`
}

// DefaultCommon returns the collector's defaults for the shared arguments.
func DefaultCommon(timeout time.Duration) Common {
	return Common{
		Timeout:      model.Duration(timeout),
		SendingQueue: Queue{Enabled: true, NumConsumers: 10, Sizer: "requests", QueueSize: 1000},
		RetryOnFailure: Retry{
			Enabled:             true,
			InitialInterval:     model.Duration(5 * time.Second),
			MaxInterval:         model.Duration(30 * time.Second),
			Multiplier:          1.5,
			RandomizationFactor: 0.5,
			MaxElapsedTime:      model.Duration(5 * time.Minute),
		},
	}
}

// Validate checks the shared arguments.
func (c *Common) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, pipeline.Field("timeout", "must be positive, got %s", c.Timeout))
	}
	q := &c.SendingQueue
	if q.Enabled {
		if q.NumConsumers <= 0 {
			errs = append(errs, pipeline.Field("sending_queue.num_consumers", "must be positive"))
		}
		if q.QueueSize <= 0 {
			errs = append(errs, pipeline.Field("sending_queue.queue_size", "must be positive"))
		}
		switch q.Sizer {
		case "requests", "items", "bytes":
		default:
			errs = append(errs, pipeline.Field("sending_queue.sizer", "must be requests, items or bytes, got %q", q.Sizer))
		}
	} else if q.Persistent {
		errs = append(errs, pipeline.Field("sending_queue.persistent", "needs the queue enabled"))
	}
	r := &c.RetryOnFailure
	if r.Enabled {
		if r.InitialInterval <= 0 {
			errs = append(errs, pipeline.Field("retry_on_failure.initial_interval", "must be positive"))
		}
		if r.MaxInterval < r.InitialInterval {
			errs = append(errs, pipeline.Field("retry_on_failure.max_interval", "must not be below initial_interval"))
		}
		if r.Multiplier < 1 {
			errs = append(errs, pipeline.Field("retry_on_failure.multiplier", "must be at least 1"))
		}
		if r.RandomizationFactor < 0 || r.RandomizationFactor > 1 {
			errs = append(errs, pipeline.Field("retry_on_failure.randomization_factor", "must be between 0 and 1"))
		}
		if r.MaxElapsedTime < 0 {
			errs = append(errs, pipeline.Field("retry_on_failure.max_elapsed_time", "must not be negative"))
		}
	}
	return errors.Join(errs...)
}

// Config returns the collector's queue, retry and timeout settings.
func (c *Common) Config() (configoptional.Optional[exporterhelper.QueueBatchConfig], configretry.BackOffConfig, exporterhelper.TimeoutConfig) {
	q := configoptional.None[exporterhelper.QueueBatchConfig]()
	if c.SendingQueue.Enabled {
		qc := exporterhelper.NewDefaultQueueConfig()
		qc.NumConsumers = c.SendingQueue.NumConsumers
		qc.QueueSize = c.SendingQueue.QueueSize
		qc.BlockOnOverflow = c.SendingQueue.BlockOnOverflow
		switch c.SendingQueue.Sizer {
		case "items":
			qc.Sizer = exporterhelper.RequestSizerTypeItems
		case "bytes":
			qc.Sizer = exporterhelper.RequestSizerTypeBytes
		default:
			qc.Sizer = exporterhelper.RequestSizerTypeRequests
		}
		if c.SendingQueue.Persistent {
			id := otelcol.FileStorageID
			qc.StorageID = &id
		}
		q = configoptional.Some(qc)
	}
	r := configretry.NewDefaultBackOffConfig()
	r.Enabled = c.RetryOnFailure.Enabled
	r.InitialInterval = time.Duration(c.RetryOnFailure.InitialInterval)
	r.MaxInterval = time.Duration(c.RetryOnFailure.MaxInterval)
	r.Multiplier = c.RetryOnFailure.Multiplier
	r.RandomizationFactor = c.RetryOnFailure.RandomizationFactor
	r.MaxElapsedTime = time.Duration(c.RetryOnFailure.MaxElapsedTime)
	return q, r, exporterhelper.TimeoutConfig{Timeout: time.Duration(c.Timeout)}
}

// Headers are added to every request; values are secrets (they often carry tokens).
type Headers map[string]config.Secret

// reservedHeaders are set by the exporter itself.
var reservedHeaders = map[string]bool{"Content-Type": true, "Content-Encoding": true, "Content-Length": true, "User-Agent": true, "Host": true}

// Validate checks header names and values; field paths are relative to the headers map.
func (h Headers) Validate() error {
	var errs []error
	for name, value := range h {
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, pipeline.Field(name, "invalid header name"))
		case reservedHeaders[http.CanonicalHeaderKey(name)]:
			errs = append(errs, pipeline.Field(name, "header is set by the exporter and cannot be configured"))
		case !httpguts.ValidHeaderFieldValue(string(value)):
			errs = append(errs, pipeline.Field(name, "invalid header value"))
		}
	}
	return errors.Join(errs...)
}

// Config returns the collector's form.
func (h Headers) Config() configopaque.MapList {
	var out configopaque.MapList
	for name, value := range h {
		out.Set(name, configopaque.String(value))
	}
	return out
}

// Compression returns the collector's form of a request compression name ("none": none).
func Compression(c string) configcompression.Type {
	if c == "none" {
		return ""
	}
	return configcompression.Type(c)
}

// ValidateCompression checks a request compression name (gzip, zstd, snappy, deflate or
// none); the field path is "compression".
func ValidateCompression(c string) error {
	switch c {
	case "", "none", "gzip", "zstd", "snappy", "deflate", "zlib":
		return nil
	}
	return pipeline.Field("compression", "must be one of gzip, zstd, snappy, deflate, none; got %q", c)
}
