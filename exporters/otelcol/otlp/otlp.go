// Package otlp implements otelcol.exporter.otlp: the OpenTelemetry collector's own OTLP/gRPC
// exporter (otlpexporter), with its bounded sending queue (optionally on disk) and retries
// per the OTLP rules: UNAVAILABLE, RESOURCE_EXHAUSTED with RetryInfo and the other
// retryable codes are retried, waiting the RetryInfo delay when the server gives one;
// other codes drop the data, counted by reason; partial success is not retried.
package otlp

import (
	"strings"

	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/exporter/otlpexporter"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.exporter.otlp.
var Registration = pipeline.Register("otelcol.exporter.otlp", DefaultArguments, New, base.Exports...)

// New builds the component; the connection is made in Run.
func New(opts pipeline.Options, args *Arguments) (*base.Component, error) {
	return base.New(opts, otlpexporter.NewFactory(), args.collectorConfig(), args.SendingQueue.Persistent)
}

// collectorConfig converts the arguments to otlpexporter's configuration.
func (a *Arguments) collectorConfig() *otlpexporter.Config {
	cfg := otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config)
	cfg.QueueConfig, cfg.RetryConfig, cfg.TimeoutConfig = a.Common.Config()
	cc := &cfg.ClientConfig
	cc.Endpoint = a.Client.Endpoint
	cc.TLS = a.Client.TLS.Config()
	if strings.HasPrefix(a.Client.Endpoint, "http://") {
		// The collector would speak TLS to http://host:port unless tls.insecure is set;
		// the scheme says plain text, so plain text it is.
		cc.TLS.Insecure = true
	}
	cc.Headers = a.Client.Headers.Config()
	cc.Compression = base.Compression(a.Client.Compression)
	cc.WaitForReady = a.Client.WaitForReady
	cc.BalancerName = a.Client.BalancerName
	cc.Middlewares = []configmiddleware.Config{{ID: otelcol.ClientID}}
	return cfg
}
