package otlp

import (
	"errors"
	"net"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure otelcol.receiver.otlp. A protocol block that is written is enabled,
// with defaults for the keys left out; at least one is required.
//
//	otelcol.receiver.otlp/default:
//	  grpc: {endpoint: 0.0.0.0:4317}
//	  http: {endpoint: 0.0.0.0:4318, cors: {allowed_origins: ["https://*.example.com"]}}
//	  output:
//	    traces: [otelcol.processor.batch/default]
type Arguments struct {
	// GRPC enables the OTLP/gRPC server (written as `grpc: {}` for its defaults).
	GRPC *GRPCArguments `yaml:"grpc,omitempty"`
	// HTTP enables the OTLP/HTTP server (written as `http: {}` for its defaults).
	HTTP *HTTPArguments `yaml:"http,omitempty"`
	// Output names the components that receive what arrives, per signal; at least one.
	Output otelcol.Output `yaml:"output"`
}

// DefaultArguments returns Arguments with their defaults: no protocol until one is written.
func DefaultArguments() *Arguments { return &Arguments{} }

// GRPCArguments configure the OTLP/gRPC server.
type GRPCArguments struct {
	// Endpoint is host:port to listen on (default 127.0.0.1:4317; 0.0.0.0:4317 in a pod).
	Endpoint string `yaml:"endpoint"`
	// TLS serves gRPC over TLS; plain text when left out.
	TLS *otelcol.TLSServer `yaml:"tls,omitempty"`
	// MaxRecvMsgSize bounds one message (rounded up to whole MiB); larger ones are
	// answered RESOURCE_EXHAUSTED.
	MaxRecvMsgSize units.ByteSize `yaml:"max_recv_msg_size"`
	// MaxConcurrentStreams bounds the streams per connection (0: gRPC's default).
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams,omitempty"`
	// Auth makes senders authenticate; anyone may send when left out.
	Auth *Auth `yaml:"auth,omitempty"`
}

// DefaultGRPC returns the values used for gRPC keys the user leaves out.
func DefaultGRPC() GRPCArguments {
	return GRPCArguments{Endpoint: "127.0.0.1:4317", MaxRecvMsgSize: 4 << 20}
}

// UnmarshalYAML fills the defaults, then decodes the keys written.
func (g *GRPCArguments) UnmarshalYAML(unmarshal func(any) error) error {
	type plain GRPCArguments
	*g = DefaultGRPC()
	return unmarshal((*plain)(g))
}

// HTTPArguments configure the OTLP/HTTP server (protobuf or JSON, gzip/zstd/snappy/deflate).
type HTTPArguments struct {
	// Endpoint is host:port to listen on (default 127.0.0.1:4318).
	Endpoint string `yaml:"endpoint"`
	// TLS serves HTTPS; plain HTTP when left out.
	TLS *otelcol.TLSServer `yaml:"tls,omitempty"`
	// CORS lets browsers send from other origins; none may when left out.
	CORS *CORS `yaml:"cors,omitempty"`
	// MaxRequestBodySize bounds a request body, after decompression; larger ones are
	// answered 413.
	MaxRequestBodySize units.ByteSize `yaml:"max_request_body_size"`
	// Auth makes senders authenticate; anyone may send when left out.
	Auth *Auth `yaml:"auth,omitempty"`
	// ReadHeaderTimeout bounds reading the request headers (slow-loris protection).
	ReadHeaderTimeout model.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout model.Duration `yaml:"idle_timeout"`
}

// DefaultHTTP returns the values used for HTTP keys the user leaves out.
func DefaultHTTP() HTTPArguments {
	return HTTPArguments{
		Endpoint:           "127.0.0.1:4318",
		MaxRequestBodySize: 20 << 20,
		ReadHeaderTimeout:  model.Duration(10e9),
		IdleTimeout:        model.Duration(60e9),
	}
}

// UnmarshalYAML fills the defaults, then decodes the keys written.
func (h *HTTPArguments) UnmarshalYAML(unmarshal func(any) error) error {
	type plain HTTPArguments
	*h = DefaultHTTP()
	return unmarshal((*plain)(h))
}

// CORS lets browsers send OTLP/HTTP JSON from the listed origins.
type CORS struct {
	// AllowedOrigins may contain one "*" wildcard each, e.g. "https://*.example.com".
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHeaders beyond the CORS-safelisted ones; "*" allows any.
	AllowedHeaders []string `yaml:"allowed_headers,omitempty"`
	// MaxAge is how long, in seconds, browsers may cache a preflight answer.
	MaxAge int `yaml:"max_age,omitempty"`
}

// Auth authenticates senders.
type Auth struct {
	// BearerTokenFile holds the token senders must present as "Authorization: Bearer
	// <token>". It is read again when it changes.
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference { return a.Output.References("output") }

// ListenAddrs implements pipeline.Listener: the graph validation rejects a configuration in
// which another component, or sonde's own --server.listen, binds an overlapping address.
func (a *Arguments) ListenAddrs() []pipeline.ListenAddr {
	var out []pipeline.ListenAddr
	if a.GRPC != nil {
		out = append(out, pipeline.ListenAddr{Field: "grpc.endpoint", Addr: a.GRPC.Endpoint})
	}
	if a.HTTP != nil {
		out = append(out, pipeline.ListenAddr{Field: "http.endpoint", Addr: a.HTTP.Endpoint})
	}
	return out
}

// Validate implements pipeline.Arguments.
func (a *Arguments) Validate() error {
	var errs []error
	if a.GRPC == nil && a.HTTP == nil {
		errs = append(errs, pipeline.Field("grpc", "at least one of grpc and http is required (write `grpc: {}` for the defaults)"))
	}
	if a.Output.Empty() {
		errs = append(errs, pipeline.Field("output", "at least one of traces, metrics and logs is required"))
	}
	if g := a.GRPC; g != nil {
		errs = append(errs, pipeline.Nest("grpc", g.validate()))
	}
	if h := a.HTTP; h != nil {
		errs = append(errs, pipeline.Nest("http", h.validate()))
	}
	if a.GRPC != nil && a.HTTP != nil && a.GRPC.Endpoint == a.HTTP.Endpoint && !strings.HasSuffix(a.GRPC.Endpoint, ":0") {
		errs = append(errs, pipeline.Field("http.endpoint", "same as grpc.endpoint (%s)", a.GRPC.Endpoint))
	}
	return errors.Join(errs...)
}

func (g *GRPCArguments) validate() error {
	var errs []error
	errs = append(errs, validateEndpoint(g.Endpoint))
	if g.MaxRecvMsgSize <= 0 {
		errs = append(errs, pipeline.Field("max_recv_msg_size", "must be positive"))
	}
	if g.TLS != nil {
		errs = append(errs, pipeline.Nest("tls", g.TLS.Validate()))
	}
	errs = append(errs, g.Auth.validate())
	return errors.Join(errs...)
}

func (h *HTTPArguments) validate() error {
	var errs []error
	errs = append(errs, validateEndpoint(h.Endpoint))
	if h.MaxRequestBodySize <= 0 {
		errs = append(errs, pipeline.Field("max_request_body_size", "must be positive"))
	}
	if h.TLS != nil {
		errs = append(errs, pipeline.Nest("tls", h.TLS.Validate()))
	}
	if h.CORS != nil {
		if len(h.CORS.AllowedOrigins) == 0 {
			errs = append(errs, pipeline.Field("cors.allowed_origins", "required when cors is written"))
		}
		for i, o := range h.CORS.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				errs = append(errs, pipeline.Field("cors.allowed_origins", "[%d] %q: at most one wildcard", i, o))
			}
		}
		if h.CORS.MaxAge < 0 {
			errs = append(errs, pipeline.Field("cors.max_age", "must not be negative"))
		}
	}
	if h.ReadHeaderTimeout <= 0 {
		errs = append(errs, pipeline.Field("read_header_timeout", "must be positive"))
	}
	if h.IdleTimeout < 0 {
		errs = append(errs, pipeline.Field("idle_timeout", "must not be negative"))
	}
	errs = append(errs, h.Auth.validate())
	return errors.Join(errs...)
}

func (a *Auth) validate() error {
	if a != nil && a.BearerTokenFile == "" {
		return pipeline.Field("auth.bearer_token_file", "required when auth is written")
	}
	return nil
}

func validateEndpoint(ep string) error {
	if ep == "" {
		return pipeline.Field("endpoint", "required")
	}
	if _, _, err := net.SplitHostPort(ep); err != nil {
		return pipeline.Field("endpoint", "%q: want host:port: %v", ep, err)
	}
	return nil
}
