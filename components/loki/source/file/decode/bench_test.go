package decode

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Benchmarks report ns per line (ns/op, one op is one physical line) and MB/s of input.

// benchLines returns n lines written by gen, as the tailer would hand them over.
func benchLines(n int, gen func(i int) string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(gen(i))
	}
	return out
}

const appMsg = `level=info ts=2024-03-05T07:08:09.123Z caller=main.go:42 msg="request served" method=GET path=/api/v1/items status=200 took=1.2ms`

func runDecoder(b *testing.B, format Format, lines [][]byte) {
	var size int
	for _, l := range lines {
		size += len(l) + 1
	}
	d := New(Config{Format: format, MaxLineSize: 256 << 10})
	out := make([]Entry, 0, 1024)
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	var off int64
	for i := 0; i < b.N; i++ {
		l := lines[i%len(lines)]
		out = d.Line(out, l, off, false, now)
		off += int64(len(l) + 1)
		if len(out) == cap(out) {
			out = out[:0]
		}
	}
}

func BenchmarkCRI(b *testing.B) {
	runDecoder(b, FormatCRI, benchLines(1024, func(i int) string {
		return fmt.Sprintf("2024-03-05T07:08:%02d.%09dZ stdout F %s", i%60, i*7919%1e9, appMsg)
	}))
}

func BenchmarkCRIOffset(b *testing.B) {
	runDecoder(b, FormatCRI, benchLines(1024, func(i int) string {
		return fmt.Sprintf("2024-03-05T09:08:%02d.%06d+02:00 stderr F %s", i%60, i, appMsg)
	}))
}

func BenchmarkCRIPartial(b *testing.B) {
	// 16 KiB fragments, four per line, as a container writing 64 KiB lines produces.
	frag := strings.Repeat("x", 16<<10)
	runDecoder(b, FormatCRI, benchLines(1024, func(i int) string {
		tag := "P"
		if i%4 == 3 {
			tag = "F"
		}
		return fmt.Sprintf("2024-03-05T07:08:09.%09dZ stdout %s %s", i, tag, frag)
	}))
}

func BenchmarkDocker(b *testing.B) {
	runDecoder(b, FormatDocker, benchLines(1024, func(i int) string {
		return fmt.Sprintf(`{"log":"%s\n","stream":"stdout","time":"2024-03-05T07:08:%02d.%09dZ"}`,
			strings.ReplaceAll(appMsg, `"`, `\"`), i%60, i*7919%1e9)
	}))
}

func BenchmarkDockerJSONApp(b *testing.B) {
	// A JSON application log: every quote of the message is escaped in the Docker line.
	msg := `{\"level\":\"info\",\"ts\":\"2024-03-05T07:08:09.123Z\",\"msg\":\"request served\",\"path\":\"/api/v1/items\",\"status\":200}`
	runDecoder(b, FormatDocker, benchLines(1024, func(i int) string {
		return fmt.Sprintf(`{"log":"%s\n","stream":"stderr","time":"2024-03-05T07:08:%02d.%09dZ"}`, msg, i%60, i)
	}))
}

func BenchmarkRaw(b *testing.B) {
	runDecoder(b, FormatRaw, benchLines(1024, func(i int) string { return appMsg }))
}

func BenchmarkParseTimestamp(b *testing.B) {
	ts := []byte("2024-03-05T07:08:09.123456789Z")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := ParseTimestamp(ts); !ok {
			b.Fatal("parse")
		}
	}
}

// BenchmarkTimeParse is the standard library on the same input, for comparison.
func BenchmarkTimeParse(b *testing.B) {
	ts := "2024-03-05T07:08:09.123456789Z"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseTimestampOffset: a zone offset, where time.Parse allocates a location.
func BenchmarkParseTimestampOffset(b *testing.B) {
	ts := []byte("2024-03-05T09:08:09.123456+02:00")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := ParseTimestamp(ts); !ok {
			b.Fatal("parse")
		}
	}
}

func BenchmarkTimeParseOffset(b *testing.B) {
	ts := "2024-03-05T09:08:09.123456+02:00"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSplitAndDecode is the whole per-chunk path of the tailer on a 1 MiB CRI chunk:
// splitting on newlines and decoding.
func BenchmarkSplitAndDecode(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; buf.Len() < 1<<20; i++ {
		fmt.Fprintf(&buf, "2024-03-05T07:08:%02d.%09dZ stdout F %s\n", i%60, i, appMsg)
	}
	chunk := buf.Bytes()
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	d := New(Config{Format: FormatCRI, MaxLineSize: 256 << 10})
	out := make([]Entry, 0, 16<<10)
	for i := 0; i < b.N; i++ {
		rest := chunk
		out = out[:0]
		var off int64
		for len(rest) > 0 {
			n := bytes.IndexByte(rest, '\n')
			out = d.Line(out, rest[:n], off, false, now)
			off += int64(n + 1)
			rest = rest[n+1:]
		}
	}
}
