// Package otlp implements otelcol.receiver.otlp: the OpenTelemetry collector's own OTLP
// receiver (gRPC on 4317, HTTP on 4318, protobuf or JSON, compressed or not), sending
// traces, metrics and logs to the components named in output.
//
// Answers follow the OTLP specification: data the outputs did not take is answered 503 /
// UNAVAILABLE (retry), or whatever gRPC status they returned — 429 / RESOURCE_EXHAUSTED
// with RetryInfo from otelcol.processor.memory_limiter and from a full sending queue, so
// senders back off. Malformed requests are answered 400, unknown content types 415, other
// methods than POST 405, bodies over max_request_body_size 413.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"

	"github.com/sondehq/sonde/internal/otelcol"
	"github.com/sondehq/sonde/pipeline"
)

// Registration declares otelcol.receiver.otlp.
var Registration = pipeline.Register("otelcol.receiver.otlp", DefaultArguments, New)

// Component is a running otelcol.receiver.otlp.
type Component struct {
	opts    pipeline.Options
	metrics *metrics
	meter   *otelcol.MeterProvider

	args *pipeline.Latest[*Arguments] // Update stores; Run restarts the servers on Changed
}

var (
	_ pipeline.Component           = (*Component)(nil)
	_ pipeline.Updater[*Arguments] = (*Component)(nil)
)

// New builds the component; the servers start in Run.
func New(opts pipeline.Options, args *Arguments) (*Component, error) {
	if _, err := newServer(opts, args); err != nil { // token files readable, and so on
		return nil, err
	}
	c := &Component{opts: opts, args: pipeline.NewLatest(args)}
	c.metrics = newMetrics(opts.Registerer)
	c.meter = otelcol.NewMeterProvider(c.metrics.instruments())
	return c, nil
}

// Update implements pipeline.Updater: the servers restart with the new arguments (new
// connections are refused for the moment it takes).
func (c *Component) Update(args *Arguments) error {
	if _, err := newServer(c.opts, args); err != nil {
		return err
	}
	c.args.Store(args)
	return nil
}

// Run starts the servers and serves until ctx ends. A server that fails to start (port in
// use) or stops serving ends Run with an error, so the controller restarts the component.
func (c *Component) Run(ctx context.Context) error {
	for {
		a := c.args.Load()
		fatal := make(chan error, 1)
		s, err := newServer(c.opts, a)
		if err != nil {
			return err
		}
		s.host.OnStatus = func(e *componentstatus.Event) {
			if e.Status() == componentstatus.StatusFatalError {
				select {
				case fatal <- e.Err():
				default:
				}
			}
		}
		if err := s.start(ctx, c.meter, c.metrics.countRequest); err != nil {
			return err
		}
		c.opts.Logger.Info("OTLP receiver listening", "grpc", endpoint(a.GRPC), "http", endpointHTTP(a.HTTP))
		select {
		case <-ctx.Done():
			fctx, cancel := pipeline.FlushContext(ctx)
			err := s.shutdown(fctx)
			cancel()
			return err
		case err := <-fatal:
			return errors.Join(fmt.Errorf("OTLP server stopped: %w", err), s.shutdown(ctx))
		case <-c.args.Changed():
			if err := s.shutdown(ctx); err != nil {
				return err
			}
			c.opts.Logger.Info("OTLP receiver restarting with new arguments")
		}
	}
}

func endpoint(g *GRPCArguments) string {
	if g == nil {
		return "off"
	}
	return g.Endpoint
}

func endpointHTTP(h *HTTPArguments) string {
	if h == nil {
		return "off"
	}
	return h.Endpoint
}

// RequestGrace is how long a stopping receiver lets the requests it is serving wait for the
// next component's answer (a batch being sent, Loki's acknowledgement); then their contexts
// end and they are answered 503 / UNAVAILABLE, so that their senders send again (to the next
// instance), and the rest of the shutdown budget goes to the components that flush.
const RequestGrace = 2 * time.Second

// serverStopTimeout bounds a shutdown that has no deadline of its own (a restart with new
// arguments).
const serverStopTimeout = 30 * time.Second

// server is one set of collector receivers (one per signal, sharing their servers).
type server struct {
	mw      *otelcol.Server
	host    *otelcol.Host
	cfg     *otlpreceiver.Config
	started []component.Component
	opts    pipeline.Options
	args    *Arguments
}

// newServer converts the arguments to the collector's configuration and builds the
// extensions it refers to (reading the token files), starting nothing.
func newServer(opts pipeline.Options, a *Arguments) (*server, error) {
	s := &server{opts: opts, args: a, host: &otelcol.Host{Extensions: map[component.ID]component.Component{}}}
	cfg := otlpreceiver.NewFactory().CreateDefaultConfig().(*otlpreceiver.Config)
	mw := []configmiddleware.Config{{ID: otelcol.ServerID}}
	auth := func(au *Auth) (configoptional.Optional[configauth.Config], error) {
		if au == nil {
			return configoptional.None[configauth.Config](), nil
		}
		bt, err := otelcol.NewBearerToken(au.BearerTokenFile)
		if err != nil {
			return configoptional.None[configauth.Config](), err
		}
		id := component.NewIDWithName(otelcol.BearerTokenID.Type(), strings.ToLower(strings.ReplaceAll(au.BearerTokenFile, "/", "_")))
		s.host.Extensions[id] = bt
		return configoptional.Some(configauth.Config{AuthenticatorID: id}), nil
	}
	if g := a.GRPC; g != nil {
		gc := configgrpc.NewDefaultServerConfig()
		gc.NetAddr.Endpoint = g.Endpoint
		gc.ReadBufferSize = 512 << 10
		gc.MaxRecvMsgSizeMiB = int((int64(g.MaxRecvMsgSize) + 1<<20 - 1) >> 20)
		gc.MaxConcurrentStreams = g.MaxConcurrentStreams
		gc.Middlewares = mw
		if g.TLS != nil {
			gc.TLS = configoptional.Some(g.TLS.Config())
		}
		au, err := auth(g.Auth)
		if err != nil {
			return nil, pipeline.Nest("grpc.auth.bearer_token_file", err)
		}
		gc.Auth = au
		cfg.Protocols.GRPC = configoptional.Some(gc)
	} else {
		cfg.Protocols.GRPC = configoptional.None[configgrpc.ServerConfig]()
	}
	if h := a.HTTP; h != nil {
		hc := confighttp.NewDefaultServerConfig()
		hc.NetAddr.Endpoint = h.Endpoint
		hc.MaxRequestBodySize = int64(h.MaxRequestBodySize)
		hc.ReadHeaderTimeout = time.Duration(h.ReadHeaderTimeout)
		hc.IdleTimeout = time.Duration(h.IdleTimeout)
		hc.WriteTimeout = 0
		hc.Middlewares = mw
		hc.TLS = configoptional.None[configtls.ServerConfig]()
		if h.TLS != nil {
			hc.TLS = configoptional.Some(h.TLS.Config())
		}
		if h.CORS != nil {
			hc.CORS = configoptional.Some(confighttp.CORSConfig{
				AllowedOrigins: h.CORS.AllowedOrigins,
				AllowedHeaders: h.CORS.AllowedHeaders,
				MaxAge:         h.CORS.MaxAge,
			})
		}
		au, err := auth(h.Auth)
		if err != nil {
			return nil, pipeline.Nest("http.auth.bearer_token_file", err)
		}
		if au.HasValue() {
			hc.Auth = configoptional.Some(confighttp.AuthConfig{Config: *au.Get()})
		}
		cfg.Protocols.HTTP = configoptional.Some(otlpreceiver.HTTPConfig{
			ServerConfig:   hc,
			TracesURLPath:  "/v1/traces",
			MetricsURLPath: "/v1/metrics",
			LogsURLPath:    "/v1/logs",
		})
	} else {
		cfg.Protocols.HTTP = configoptional.None[otlpreceiver.HTTPConfig]()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s.cfg = cfg
	return s, nil
}

// start creates the collector receivers for the signals that have outputs and starts
// them; on failure it stops what it started.
func (s *server) start(ctx context.Context, meter *otelcol.MeterProvider, count otelcol.CountFunc) error {
	s.mw = otelcol.NewServer(count)
	s.host.Extensions[otelcol.ServerID] = s.mw
	f := otlpreceiver.NewFactory()
	set := receiver.Settings{
		ID:                otelcol.ComponentID(f.Type(), s.opts.ID),
		TelemetrySettings: otelcol.TelemetrySettings(s.opts.Logger, meter),
		BuildInfo:         otelcol.BuildInfo,
	}
	out := s.args.Output
	next := out.Consumers(s.opts.Host, s.opts.ID)
	var created []component.Component
	var errs []error
	if len(out.Traces) > 0 {
		r, err := f.CreateTraces(ctx, set, s.cfg, next.Traces)
		errs = append(errs, err)
		created = append(created, r)
	}
	if len(out.Metrics) > 0 {
		r, err := f.CreateMetrics(ctx, set, s.cfg, next.Metrics)
		errs = append(errs, err)
		created = append(created, r)
	}
	if len(out.Logs) > 0 {
		r, err := f.CreateLogs(ctx, set, s.cfg, next.Logs)
		errs = append(errs, err)
		created = append(created, r)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, r := range created {
		if r == nil {
			continue
		}
		if err := r.Start(ctx, s.host); err != nil {
			s.started = created
			return errors.Join(err, s.shutdown(ctx))
		}
	}
	s.started = created
	return nil
}

// shutdown stops the servers: new connections are refused at once, requests being served
// get RequestGrace (at most half of what is left of ctx) to be answered before their
// contexts end, and the servers' shutdown ends with ctx (serverStopTimeout when it has no
// deadline); ctx's own cancellation is not looked at.
func (s *server) shutdown(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(serverStopTimeout)
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	if s.mw != nil {
		grace := min(RequestGrace, time.Until(deadline)/2)
		t := time.AfterFunc(grace, s.mw.CancelRequests)
		defer t.Stop()
	}
	var errs []error
	for _, r := range s.started {
		if r != nil {
			errs = append(errs, r.Shutdown(ctx))
		}
	}
	s.started = nil
	return errors.Join(errs...)
}
