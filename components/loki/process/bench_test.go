package process

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// discard acknowledges and forgets every batch.
type discard struct{}

func (discard) ConsumeLogs(_ context.Context, b pipeline.LogBatch) error {
	b.Ack(nil)
	return nil
}

func benchComponent(b *testing.B, stagesYAML string) *Component {
	var stages []StageConfig
	require.NoError(b, yaml.Unmarshal([]byte(stagesYAML), &stages))
	host := pipelinetest.NewHost()
	opts := pipelinetest.Options(b, "loki.process/bench", host)
	opts.Host = failingHost{Host: host, recv: discard{}}
	c, err := New(opts, &Arguments{ForwardTo: []string{"x"}, Stages: stages})
	require.NoError(b, err)
	return c
}

// BenchmarkStages reports the cost per line (ns/op and allocs/op are per line) of typical
// pipelines on batches of 1000 lines.
func BenchmarkStages(b *testing.B) {
	const batch = 1000
	jsonLine := `{"ts":"2026-03-14T15:09:26.123456789Z","level":"info","msg":"request served","method":"GET","path":"/api/v1/query","status":200,"duration_ms":12.5,"user":{"id":42,"name":"ana"},"tags":["a","b"]}`
	logfmtLine := `ts=2026-03-14T15:09:26.123456789Z level=info msg="request served" method=GET path=/api/v1/query status=200 duration=12.5ms user=ana`
	nginxLine := `10.0.0.1 - - [14/Mar/2026:10:00:00 +0100] "GET /api/v1/query?x=1 HTTP/1.1" 200 512 "-" "curl/8.0"`
	for _, bc := range []struct {
		name, stages, line string
	}{
		{"passthrough", "[]", jsonLine},
		{"json", "- json: {expressions: {level: '', msg: '', user: 'user.name'}}\n", jsonLine},
		{"json_labels_timestamp", "- json: {expressions: {level: '', ts: ''}}\n- labels: {level: ''}\n- timestamp: {source: ts, format: RFC3339Nano}\n", jsonLine},
		{"logfmt", "- logfmt: {mapping: {level: '', msg: '', status: ''}}\n", logfmtLine},
		{"logfmt_labels", "- logfmt: {mapping: {level: '', status: ''}}\n- labels: {level: '', status: ''}\n", logfmtLine},
		{"regex", `- regex: {expression: '^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) \S+" (?P<status>\d+)'}` + "\n", nginxLine},
		{"match_drop", "- match: {selector: '{app=\"api\"} |= \"healthz\"', action: drop}\n", jsonLine},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchComponent(b, bc.stages)
			in := make([]pipeline.LogEntry, batch)
			for i := range in {
				in[i] = pipeline.LogEntry{Labels: apiLabels, Timestamp: base, Line: bc.line}
			}
			ctx := context.Background()
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				n := min(batch, b.N-done)
				if err := c.ConsumeLogs(ctx, pipeline.NewLogBatch(in[:n], nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMultiline joins 10-line blocks.
func BenchmarkMultiline(b *testing.B) {
	c := benchComponent(b, "- multiline: {firstline: '^\\d{4}-', max_wait_time: 1h}\n")
	in := make([]pipeline.LogEntry, 1000)
	for i := range in {
		line := "    at com.example.Foo.bar(Foo.java:42)"
		if i%10 == 0 {
			line = fmt.Sprintf("2026-03-14 15:09:26 ERROR request %d failed", i)
		}
		in[i] = pipeline.LogEntry{Labels: apiLabels, Timestamp: base, Line: line}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += len(in) {
		n := min(len(in), b.N-done)
		if err := c.ConsumeLogs(context.Background(), pipeline.NewLogBatch(in[:n], nil)); err != nil {
			b.Fatal(err)
		}
	}
}
