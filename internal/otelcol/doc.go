// Package otelcol is the glue between sonde components and the OpenTelemetry collector's
// own receivers and exporters (otlpreceiver, otlpexporter, otlphttpexporter), shared by the
// otelcol.* components: the component.TelemetrySettings they are created with (a zap logger
// that writes to the component's slog logger, a meter provider that turns the collector's
// own counters into sonde's Prometheus metrics), the component.Host they start under, and
// the extensions that Host offers them: bearer-token authentication, HTTP/gRPC middlewares,
// and a file storage for persistent sending queues. It also holds the output block of the
// OTLP processors and receivers (Output) and the consumers it resolves to.
//
// The collector looks extensions up by component.ID in Host.GetExtensions; sonde has no
// extension components of its own, so each sonde component builds the few it needs and
// hands them over through its Host.
package otelcol
