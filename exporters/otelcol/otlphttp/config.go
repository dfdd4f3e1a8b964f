package otlphttp

import (
	"errors"
	"net/url"
	"time"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.exporter.otlphttp (OTLP/HTTP).
//
//	otelcol.exporter.otlphttp/tempo:
//	  client:
//	    endpoint: http://tempo.observability:4318   # /v1/traces etc. are appended
//	    headers: {Authorization: "Bearer ${TOKEN}"}
//	  encoding: proto
type Arguments struct {
	// Client is the HTTP client talking to the backend.
	Client Client `yaml:"client"`
	// TracesEndpoint, MetricsEndpoint and LogsEndpoint override the URL of one signal
	// (default: client.endpoint + /v1/traces, /v1/metrics, /v1/logs).
	TracesEndpoint  string `yaml:"traces_endpoint,omitempty"`
	MetricsEndpoint string `yaml:"metrics_endpoint,omitempty"`
	LogsEndpoint    string `yaml:"logs_endpoint,omitempty"`
	// Encoding is proto (default) or json.
	Encoding    string `yaml:"encoding"`
	base.Common `yaml:",inline"`
}

// Client is the HTTP client talking to the backend.
type Client struct {
	// Endpoint is the base URL, e.g. https://otlp.example.com:4318.
	Endpoint string `yaml:"endpoint"`
	// TLS configures the connection's TLS (used for https URLs).
	TLS otelcol.TLSClient `yaml:"tls"`
	// Headers are added to every request (X-Scope-OrgID, Authorization); their values
	// are secrets, never shown.
	Headers base.Headers `yaml:"headers,omitempty"`
	// Compression is gzip (default), zstd, snappy, deflate or none.
	Compression string `yaml:"compression"`
	// ProxyURL sends through an HTTP proxy.
	ProxyURL string `yaml:"proxy_url,omitempty"`
}

// DefaultArguments returns Arguments with the collector's defaults.
func DefaultArguments() *Arguments {
	return &Arguments{
		Client:   Client{Compression: "gzip"},
		Encoding: "proto",
		Common:   base.DefaultCommon(30 * time.Second),
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if a.Client.Endpoint == "" && (a.TracesEndpoint == "" || a.MetricsEndpoint == "" || a.LogsEndpoint == "") {
		errs = append(errs, pipeline.Field("client.endpoint", "required unless traces_endpoint, metrics_endpoint and logs_endpoint are all set"))
	}
	for field, u := range map[string]string{
		"client.endpoint": a.Client.Endpoint, "traces_endpoint": a.TracesEndpoint,
		"metrics_endpoint": a.MetricsEndpoint, "logs_endpoint": a.LogsEndpoint, "client.proxy_url": a.Client.ProxyURL,
	} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, pipeline.Field(field, "%q must be an absolute http or https URL", u))
		}
	}
	errs = append(errs, pipeline.Nest("client.tls", a.Client.TLS.Validate()))
	errs = append(errs, pipeline.Nest("client.headers", a.Client.Headers.Validate()))
	errs = append(errs, pipeline.Nest("client", base.ValidateCompression(a.Client.Compression)))
	if a.Encoding != "proto" && a.Encoding != "json" {
		errs = append(errs, pipeline.Field("encoding", "must be proto or json, got %q", a.Encoding))
	}
	errs = append(errs, a.Common.Validate())
	return errors.Join(errs...)
}
