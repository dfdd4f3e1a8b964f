// Package otlphttp implements otelcol.exporter.otlphttp: the OpenTelemetry collector's own
// OTLP/HTTP exporter (otlphttpexporter), with its bounded sending queue (optionally on
// disk) and retries per the OTLP rules: 429, 502, 503 and 504 are retried (429 and 503
// honouring Retry-After); any other answer (400, 401, 403, 404, 413, 500, …) drops the data,
// counted by reason; partial success is logged and not retried.
package otlphttp

import (
	"time"

	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.exporter.otlphttp.
var Registration = pipeline.Register("otelcol.exporter.otlphttp", DefaultArguments, New, base.Exports...)

// New builds the component; nothing is sent before Run.
func New(opts pipeline.Options, args *Arguments) (*base.Component, error) {
	return base.New(opts, otlphttpexporter.NewFactory(), args.collectorConfig(), args.SendingQueue.Persistent)
}

// collectorConfig converts the arguments to otlphttpexporter's configuration.
func (a *Arguments) collectorConfig() *otlphttpexporter.Config {
	cfg := otlphttpexporter.NewFactory().CreateDefaultConfig().(*otlphttpexporter.Config)
	cfg.QueueConfig, cfg.RetryConfig, _ = a.Common.Config()
	cfg.TracesEndpoint, cfg.MetricsEndpoint, cfg.LogsEndpoint = a.TracesEndpoint, a.MetricsEndpoint, a.LogsEndpoint
	cfg.Encoding = otlphttpexporter.EncodingType(a.Encoding)
	cc := &cfg.ClientConfig
	cc.Endpoint = a.Client.Endpoint
	cc.TLS = a.Client.TLS.Config()
	cc.Headers = a.Client.Headers.Config()
	cc.ProxyURL = a.Client.ProxyURL
	// otlphttpexporter bounds each attempt with the HTTP client's timeout.
	cc.Timeout = time.Duration(a.Timeout)
	cc.Compression = base.Compression(a.Client.Compression)
	cc.Middlewares = []configmiddleware.Config{{ID: otelcol.ClientID}}
	return cfg
}
