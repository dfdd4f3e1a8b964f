package otelcol

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TelemetrySettings returns the settings a collector component is created with: its logs
// go to logger (Debug and above, as logger's handler decides), its metrics to mp (a no-op
// provider when nil), and it records no traces of its own.
func TelemetrySettings(logger *slog.Logger, mp metric.MeterProvider) component.TelemetrySettings {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	return component.TelemetrySettings{
		Logger:         zap.New(&slogCore{logger: logger}),
		TracerProvider: tracenoop.NewTracerProvider(),
		MeterProvider:  mp,
		Resource:       pcommon.NewResource(),
	}
}

// slogCore is a zapcore.Core that writes to a slog.Logger. It is written here because zap
// ships only the opposite bridge (zapslog: slog on top of zap).
type slogCore struct {
	logger *slog.Logger
	attrs  []any
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.logger.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{logger: c.logger, attrs: append(append([]any(nil), c.attrs...), fieldsToAttrs(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	args := append(append([]any(nil), c.attrs...), fieldsToAttrs(fields)...)
	if e.LoggerName != "" {
		args = append(args, "logger", e.LoggerName)
	}
	c.logger.Log(context.Background(), slogLevel(e.Level), e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// fieldsToAttrs encodes zap fields with zap's own map encoder and passes them on as
// key/value pairs.
func fieldsToAttrs(fields []zapcore.Field) []any {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, k, v)
	}
	return out
}
