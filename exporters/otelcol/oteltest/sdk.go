package oteltest

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// SDKProtocol selects the OpenTelemetry SDK's OTLP trace exporter.
type SDKProtocol string

const (
	SDKGRPC SDKProtocol = "grpc"          // otlptracegrpc, to host:port (4317)
	SDKHTTP SDKProtocol = "http/protobuf" // otlptracehttp, to host:port (4318)
)

// SDKClient is an application instrumented with the OpenTelemetry Go SDK, the way users'
// services send spans to sonde: a TracerProvider with a batch span processor and an OTLP
// exporter, plain text (no TLS), gzip compressed over HTTP.
type SDKClient struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// NewSDKClient returns a client sending to endpoint (host:port) over proto; the resource
// carries service.name and the given attributes.
func NewSDKClient(ctx context.Context, proto SDKProtocol, endpoint, service string, attrs map[string]string) (*SDKClient, error) {
	var (
		exp *otlptrace.Exporter
		err error
	)
	switch proto {
	case SDKGRPC:
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	case SDKHTTP:
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(),
			otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	default:
		return nil, fmt.Errorf("unknown SDK protocol %q", proto)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP %s exporter: %w", proto, err)
	}
	kv := []attribute.KeyValue{attribute.String("service.name", service)}
	for k, v := range attrs {
		kv = append(kv, attribute.String(k, v))
	}
	p := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(50*time.Millisecond)),
		sdktrace.WithResource(resource.NewSchemaless(kv...)),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
	)
	return &SDKClient{provider: p, tracer: p.Tracer("sonde-test")}, nil
}

// Trace records one trace: a server span named name with children-1 child spans, and
// returns its id. The spans leave with the next batch (or Flush).
func (c *SDKClient) Trace(ctx context.Context, name string, children int) pcommon.TraceID {
	ctx, root := c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.route", "/api/items")))
	for i := 1; i < children; i++ {
		_, child := c.tracer.Start(ctx, name+"/step-"+strconv.Itoa(i))
		child.End()
	}
	root.End()
	return pcommon.TraceID(root.SpanContext().TraceID())
}

// Flush exports every span recorded so far; it fails when the receiver refused them or did
// not answer before ctx ends.
func (c *SDKClient) Flush(ctx context.Context) error { return c.provider.ForceFlush(ctx) }

// Shutdown flushes and stops the client.
func (c *SDKClient) Shutdown(ctx context.Context) error { return c.provider.Shutdown(ctx) }
