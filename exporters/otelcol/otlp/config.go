package otlp

import (
	"errors"
	"strings"
	"time"

	"github.com/sondehq/sonde/exporters/otelcol/internal/base"
	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.exporter.otlp (OTLP/gRPC).
//
//	otelcol.exporter.otlp/tempo:
//	  client:
//	    endpoint: tempo.observability:4317
//	    tls: {insecure: true}
//	    headers: {X-Scope-OrgID: team-a}
//	  sending_queue: {queue_size: 1000, persistent: true}
//	  retry_on_failure: {max_elapsed_time: 10m}
type Arguments struct {
	// Client is the connection to the backend.
	Client      Client `yaml:"client"`
	base.Common `yaml:",inline"`
}

// Client is the gRPC connection to the backend.
type Client struct {
	// Endpoint is host:port (TLS unless tls.insecure), http://host:port (plain text),
	// https://host:port (TLS), or a gRPC "dns:///" target.
	Endpoint string `yaml:"endpoint"`
	// TLS configures the connection's TLS.
	TLS otelcol.TLSClient `yaml:"tls"`
	// Headers are sent as gRPC metadata with every request (X-Scope-OrgID, authorization);
	// their values are secrets, never shown.
	Headers base.Headers `yaml:"headers,omitempty"`
	// Compression is gzip (default), zstd, snappy or none.
	Compression string `yaml:"compression"`
	// WaitForReady queues RPCs while the connection is not ready instead of failing them.
	WaitForReady bool `yaml:"wait_for_ready,omitempty"`
	// BalancerName is the gRPC load-balancing policy (round_robin, pick_first).
	BalancerName string `yaml:"balancer_name"`
}

// DefaultArguments returns Arguments with the collector's defaults.
func DefaultArguments() *Arguments {
	return &Arguments{
		Client: Client{Compression: "gzip", BalancerName: "round_robin"},
		Common: base.DefaultCommon(5 * time.Second),
	}
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if a.Client.Endpoint == "" {
		errs = append(errs, pipeline.Field("client.endpoint", "required"))
	} else if strings.Contains(strings.TrimPrefix(strings.TrimPrefix(a.Client.Endpoint, "http://"), "https://"), "/") &&
		!strings.HasPrefix(a.Client.Endpoint, "dns:") {
		errs = append(errs, pipeline.Field("client.endpoint", "%q: want host:port, not a URL with a path (gRPC has none)", a.Client.Endpoint))
	}
	errs = append(errs, pipeline.Nest("client.tls", a.Client.TLS.Validate()))
	errs = append(errs, pipeline.Nest("client.headers", a.Client.Headers.Validate()))
	errs = append(errs, pipeline.Nest("client", base.ValidateCompression(a.Client.Compression)))
	switch a.Client.BalancerName {
	case "round_robin", "pick_first":
	default:
		errs = append(errs, pipeline.Field("client.balancer_name", "must be round_robin or pick_first, got %q", a.Client.BalancerName))
	}
	errs = append(errs, a.Common.Validate())
	return errors.Join(errs...)
}
