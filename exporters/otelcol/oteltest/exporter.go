package oteltest

import (
	"context"
	"testing"
	"time"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// Exporter is an OTLP exporter component (otelcol.exporter.otlp, otelcol.exporter.otlphttp).
type Exporter interface {
	pipeline.Component
	pipeline.OTLPTracesReceiver
}

// StartExporter runs c until stop is called or the test ends (see pipelinetest.Run) and
// returns once c takes data, that is once Run has started the collector's exporter.
func StartExporter(t testing.TB, c Exporter) (stop func()) {
	t.Helper()
	stop = pipelinetest.Run(t, c)
	deadline := time.Now().Add(30 * time.Second)
	// An empty batch is not sent: this only asks whether Run has started the exporter.
	for c.Traces().ConsumeTraces(context.Background(), Traces(0, 0, nil)) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%T did not start within 30s", c)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return stop
}
