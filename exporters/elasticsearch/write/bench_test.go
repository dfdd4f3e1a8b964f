package write

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sondehq/sonde/exporters/elasticsearch/write/estest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// benchBatch returns n entries of about 200 bytes in 10 streams, a third with structured
// metadata (loki.write's benchmark batch).
func benchBatch(n int) []pipeline.LogEntry {
	var streams []model.LabelSet
	for i := range 10 {
		streams = append(streams, model.LabelSet{"namespace": "default", "pod": model.LabelValue(fmt.Sprintf("api-%d", i)), "container": "api", "stream": "stdout", "job": "default/api"})
	}
	line := `2026-03-14T15:09:26.535Z INFO  request served method=GET path=/api/v1/query?query=up status=200 duration=12.5ms user=ana bytes=5123 trace=0af7651916cd43dd8448eb211c80319c`
	t0 := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	out := make([]pipeline.LogEntry, n)
	for i := range out {
		out[i] = pipeline.LogEntry{Labels: streams[i%10], Timestamp: t0.Add(time.Duration(i) * time.Microsecond), Line: line}
		if i%3 == 0 {
			out[i].StructuredMetadata = labels.FromStrings("trace_id", "0af7651916cd43dd8448eb211c80319c")
		}
	}
	return out
}

// BenchmarkEncode encodes 5000 entries into bulk operations (what the sender does for a
// request); MB/s is of body bytes.
func BenchmarkEncode(b *testing.B) {
	batch := benchBatch(5000)
	tmpl, err := parseIndex("logs-{namespace}-%Y.%m.%d")
	if err != nil {
		b.Fatal(err)
	}
	enc := newDocEncoder(tmpl, false)
	var buf []byte
	for i := range batch {
		buf = enc.appendEntry(buf, &batch[i])
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range batch {
			buf = enc.appendEntry(buf, &batch[i])
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "entries/s")
}

// cpuSeconds is the user and system CPU time of this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// procCPUSeconds is the user and system CPU time of process pid (/proc/<pid>/stat).
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// runThroughput sends b.N entries in 1000-entry batches through an elasticsearch.write to
// url and waits for every acknowledgement; it reports entries/s and entries per CPU
// second of this process (the component, and the test's own work).
func runThroughput(b *testing.B, yaml string, otherPID int) {
	a := validArgs(b, yaml)
	c, err := New(pipelinetest.Options(b, "elasticsearch.write/bench", pipelinetest.NewHost()), a)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	batch := benchBatch(1000)
	acked := make(chan error, b.N/len(batch)+1)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch[0].Line)))
	cpu0, other0, start := cpuSeconds(), procCPUSeconds(otherPID), time.Now()
	b.ResetTimer()
	sent := 0
	for n := 0; n < b.N; n += len(batch) {
		k := min(len(batch), b.N-n)
		es := append([]pipeline.LogEntry(nil), batch[:k]...)
		if err := c.ConsumeLogs(ctx, pipeline.NewLogBatch(es, func(err error) { acked <- err })); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	for range sent {
		if err := <-acked; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	elapsed, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
	b.ReportMetric(float64(b.N)/elapsed, "entries/s")
	b.ReportMetric(float64(b.N)/cpu, "entries/cpu-s")
	if otherPID != 0 {
		b.ReportMetric(float64(b.N)/(procCPUSeconds(otherPID)-other0), "entries/backend-cpu-s")
	}
}

// BenchmarkThroughputZinc: ConsumeLogs to documents acknowledged by a real ZincSearch.
// entries/cpu-s is per CPU second of the test process (elasticsearch.write),
// entries/backend-cpu-s per CPU second of ZincSearch.
func BenchmarkThroughputZinc(b *testing.B) {
	z := estest.Start(b)
	runThroughput(b, zincArgs(z.ESURL(), "index: \"bench-%Y.%m.%d\"\nbatch_size: 5MiB\n"), z.PID())
}

// fakeBulk is a bulk endpoint that answers every request with errors: false at once.
func fakeBulk(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte(`{"took":1,"errors":false,"items":[]}`))
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkThroughputFake: the same to fakeBulk, in this process: the CPU
// elasticsearch.write adds per entry (and the endpoint's, which reads the body).
func BenchmarkThroughputFake(b *testing.B) {
	runThroughput(b, "endpoint: {url: "+fakeBulk(b)+"}\nbatch_size: 5MiB\nbatch_wait: 20ms\n", 0)
}

// BenchmarkThroughputFakeGzip: BenchmarkThroughputFake with compression: gzip.
func BenchmarkThroughputFakeGzip(b *testing.B) {
	runThroughput(b, "endpoint: {url: "+fakeBulk(b)+", compression: gzip}\nbatch_size: 5MiB\nbatch_wait: 20ms\n", 0)
}
