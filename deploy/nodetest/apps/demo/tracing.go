package main

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracing is the OpenTelemetry SDK set up the way users' services do it: a batch span
// processor in front of an insecure OTLP gRPC exporter. Its queue is bounded and drops when
// full, so a missing receiver never blocks logging.
type tracing struct {
	tracer   trace.Tracer
	provider *sdktrace.TracerProvider
}

// newTracing sends to endpoint (host:port); with no endpoint it records nothing.
func newTracing(ctx context.Context, endpoint, runID, inst string, m *metrics) (*tracing, error) {
	if endpoint == "" {
		return &tracing{tracer: noop.NewTracerProvider().Tracer("demo")}, nil
	}
	// The SDK's default handler logs to stderr, which would put unnumbered lines in the
	// stream the test counts: count the errors instead.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) { m.otelErrors.Inc() }))
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", endpoint, err)
	}
	p := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "demo"),
			attribute.String("service.instance.id", inst),
			attribute.String("demo.run", runID),
		)),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
	)
	return &tracing{tracer: p.Tracer("demo"), provider: p}, nil
}

// shutdown flushes what is queued and stops the exporter.
func (t *tracing) shutdown(ctx context.Context) error {
	if t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
