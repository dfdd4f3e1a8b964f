package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// countingSink acknowledges at once and only counts, so that benchmarks measure the source.
type countingSink struct {
	lines atomic.Int64
	done  chan struct{}
	want  int64
}

func (s *countingSink) ConsumeLogs(_ context.Context, b pipeline.LogBatch) error {
	if s.lines.Add(int64(len(b.Entries))) >= s.want {
		select {
		case s.done <- struct{}{}:
		default:
		}
	}
	b.Ack(nil)
	return nil
}

// benchFiles writes files under dir holding lines CRI lines in total; it returns the bytes.
func benchFiles(b *testing.B, dir string, files, lines int) int64 {
	b.Helper()
	var total int64
	for f := range files {
		var sb strings.Builder
		for i := range lines / files {
			fmt.Fprintf(&sb, "2024-03-05T07:08:%02d.%09dZ stdout F %s\n", i%60, i, benchMsg)
		}
		path := filepath.Join(dir, fmt.Sprintf("ns_pod-%d_uid/app/0.log", f))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(sb.Len())
	}
	return total
}

const benchMsg = `level=info ts=2024-03-05T07:08:09.123Z caller=main.go:42 msg="request served" method=GET path=/api/v1/items status=200 took=1.2ms`

// BenchmarkTail reads files already written, from nothing to every line delivered, with
// the kubelet's layout and labels. One op is one whole read of all files.
func BenchmarkTail(b *testing.B) {
	const lines = 200_000
	for _, files := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			dir := b.TempDir()
			size := benchFiles(b, dir, files, lines)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				args := DefaultArguments()
				args.Paths = []string{filepath.Join(dir, "*", "*", "*.log")}
				args.ForwardTo = []string{"x/y"}
				args.PathLabels = PathLabelsKubernetes
				args.BatchWait = model.Duration(10 * time.Millisecond)
				sink := &countingSink{done: make(chan struct{}, 1), want: lines}
				host := pipelinetest.NewHost()
				opts := pipelinetest.Options(b, "loki.source.file/bench", host)
				opts.Host = &fakeHost{Host: host, logs: sink}
				c, err := New(opts, args)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- c.Run(ctx) }()
				<-sink.done
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkIdleFiles measures the CPU that 1 000 idle files cost once read: no goroutine,
// no timer and no poll per file; with poll_interval 1s (a tenth of the default), the poll
// is the only work. The figure is CPU seconds per wall second (cores).
func BenchmarkIdleFiles(b *testing.B) {
	dir := b.TempDir()
	benchFiles(b, dir, 1000, 10_000)
	args := DefaultArguments()
	args.Paths = []string{filepath.Join(dir, "*", "*", "*.log")}
	args.ForwardTo = []string{"x/y"}
	args.PollInterval = model.Duration(time.Second)
	sink := &countingSink{done: make(chan struct{}, 1), want: 10_000}
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(b, "loki.source.file/bench", host)
	opts.Host = &fakeHost{Host: host, logs: sink}
	c, err := New(opts, args)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-sink.done
	defer func() {
		cancel()
		<-done
	}()
	b.ResetTimer()
	var cpu, wall time.Duration
	for i := 0; i < b.N; i++ {
		before, start := cpuTime(), time.Now()
		time.Sleep(3 * time.Second)
		cpu += cpuTime() - before
		wall += time.Since(start)
	}
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
