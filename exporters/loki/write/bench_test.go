package write

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// benchBatch returns entries of about 200 bytes in 10 streams, 1 MiB in all, a third with
// structured metadata.
func benchBatch() []pipeline.LogEntry {
	var streams []model.LabelSet
	for i := range 10 {
		streams = append(streams, model.LabelSet{"namespace": "default", "pod": model.LabelValue(fmt.Sprintf("api-%d", i)), "container": "api", "stream": "stdout", "job": "default/api"})
	}
	line := `2026-03-14T15:09:26.535Z INFO  request served method=GET path=/api/v1/query?query=up status=200 duration=12.5ms user=ana bytes=5123 trace=0af7651916cd43dd8448eb211c80319c`
	var out []pipeline.LogEntry
	for size, i := 0, 0; size < 1<<20; i++ {
		e := pipeline.LogEntry{Labels: streams[i%10], Timestamp: t0, Line: line}
		if i%3 == 0 {
			e.StructuredMetadata = labels.FromStrings("trace_id", "0af7651916cd43dd8448eb211c80319c")
		}
		size += entrySize(&e)
		out = append(out, e)
	}
	return out
}

// BenchmarkEncode1MiB groups a 1 MiB batch into streams, marshals it and compresses it
// (what a sender does for every request); MB/s is of line bytes.
func BenchmarkEncode1MiB(b *testing.B) {
	batch := benchBatch()
	names := newStreamNames(nil)
	streams := make([]string, len(batch))
	for i := range batch {
		streams[i], _ = names.name(batch[i].Labels)
	}
	enc := newEncoder()
	size := 0
	for i := range batch {
		size += entrySize(&batch[i])
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var out int
	for b.Loop() {
		enc.reset()
		for i := range batch {
			enc.add(streams[i], &batch[i])
		}
		body, err := enc.encode()
		if err != nil {
			b.Fatal(err)
		}
		out = len(body)
	}
	b.ReportMetric(float64(out), "compressed-bytes")
}

// BenchmarkConsumeAndSend measures the whole path, ConsumeLogs to an acknowledged push to a
// fake Loki, for 1000-entry batches.
func BenchmarkConsumeAndSend(b *testing.B) {
	rcv := lokitest.NewReceiver(b)
	a := DefaultArguments()
	ep := DefaultEndpoint()
	ep.Name = "bench"
	_ = ep.URL.UnmarshalYAML(func(v any) error { *(v.(*string)) = rcv.URL; return nil })
	ep.BatchWait = 1
	a.Endpoints = []EndpointConfig{ep}
	if err := a.Validate(); err != nil {
		b.Fatal(err)
	}
	c, err := New(pipelinetest.Options(b, "loki.write/bench", pipelinetest.NewHost()), a)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	batch := benchBatch()[:1000]
	// One slot per batch: the acknowledgements are read after all sends, and a full channel
	// would block the sender and then ConsumeLogs.
	acked := make(chan error, b.N/len(batch)+1)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch[0].Line)))
	b.ResetTimer()
	sent := 0
	for done := 0; done < b.N; done += len(batch) {
		n := min(len(batch), b.N-done)
		if err := c.ConsumeLogs(ctx, pipeline.NewLogBatch(batch[:n], func(err error) { acked <- err })); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	for range sent {
		if err := <-acked; err != nil {
			b.Fatal(err)
		}
	}
}
