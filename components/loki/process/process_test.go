package process

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// base is the timestamp of the first test entry; entry i is i seconds later.
var base = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// future is a timestamp no older_than condition reaches.
var future = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)

// newComponent builds a loki.process with the given stages (YAML, a list) forwarding to
// the host's recording sink.
func newComponent(t testing.TB, stagesYAML string) (*Component, *pipelinetest.Host) {
	t.Helper()
	var stages []StageConfig
	require.NoError(t, yaml.Unmarshal([]byte(stagesYAML), &stages))
	args := &Arguments{ForwardTo: []string{"test.sink/out"}, Stages: stages}
	require.NoError(t, args.Validate())
	host := pipelinetest.NewHost()
	c, err := New(pipelinetest.Options(t, "loki.process/test", host), args)
	require.NoError(t, err)
	return c, host
}

// entries builds entries with labels ls and the given lines, one second apart.
func entries(ls model.LabelSet, lines ...string) []pipeline.LogEntry {
	out := make([]pipeline.LogEntry, len(lines))
	for i, l := range lines {
		out[i] = pipeline.LogEntry{Labels: ls, Timestamp: base.Add(time.Duration(i) * time.Second), Line: l}
	}
	return out
}

var apiLabels = model.LabelSet{"job": "default/api", "app": "api", "namespace": "default", "filename": "/var/log/pods/x/0.log"}

// render writes entries and the drop and failure counters the way golden files hold them.
func render(c *Component, out []pipeline.LogEntry) string {
	var b strings.Builder
	for _, e := range out {
		fmt.Fprintf(&b, "%s %s", e.Timestamp.UTC().Format(time.RFC3339Nano), e.Labels)
		if !e.StructuredMetadata.IsEmpty() {
			fmt.Fprintf(&b, " sm=%s", e.StructuredMetadata)
		}
		fmt.Fprintf(&b, " %q\n", e.Line)
	}
	for _, vec := range []*prometheus.CounterVec{c.metrics.dropped, c.metrics.failures} {
		ch := make(chan prometheus.Metric, 100)
		vec.Collect(ch)
		close(ch)
		var lines []string
		for m := range ch {
			var d dto.Metric
			_ = m.Write(&d)
			if v := d.GetCounter().GetValue(); v > 0 {
				lines = append(lines, fmt.Sprintf("%s{%s=%q} %v\n", strings.Split(m.Desc().String(), "\"")[1], d.GetLabel()[0].GetName(), d.GetLabel()[0].GetValue(), v))
			}
		}
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, ""))
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create the golden file")
	require.Equal(t, string(want), got)
}

func TestStages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stages string
		in     []pipeline.LogEntry
	}{
		{
			name: "json",
			stages: `
- json:
    expressions: {level: "", msg: message, user: "req.user.name", first: "tags[0]", second: "tags[1]", obj: req, n: count, ok: ok, nothing: none, dotted: '"a.b"', missing: nope}
- labels: {level: "", user: ""}
- structured_metadata: {first: "", second: "", obj: "", n: "", ok: "", dotted: ""}
- output: {source: msg}
`,
			in: entries(apiLabels,
				`{"level":"info","message":"started","req":{"user":{"name":"ana","id":7}},"tags":["a","b"],"count":42,"ok":true,"none":null,"a.b":"dot"}`,
				`  {"message":"esc \"q\" \u00e9\n\ud83d\ude00","level":"warn","req":{ "user" : { "name" : "b\/o" } } , "extra":[1,{"x":[2,3]}]}  `,
				`{"level":"error","message":"nested keys win only at their path","msg":"top","req":{"message":"inner"}}`,
				`not json at all`,
				`{"level":"info","message":"truncated"`,
				`{"level":"info"} trailing`,
				`["an","array"]`,
			),
		},
		{
			name: "json_source_drop_malformed",
			stages: `
- regex: {expression: '^(?P<prefix>\S+) (?P<payload>.*)$'}
- json: {expressions: {level: ""}, source: payload, drop_malformed: true}
- labels: {level: ""}
`,
			in: entries(apiLabels, `web {"level":"debug"}`, `web {broken`, `no-payload`),
		},
		{
			name: "logfmt",
			stages: `
- logfmt: {mapping: {level: "", msg: "", dur: took, path: ""}}
- labels: {level: ""}
- structured_metadata: {dur: ""}
- output: {source: msg}
`,
			in: entries(apiLabels,
				`level=info msg="request done" took=12ms path=/a?b=c`,
				`level=warn msg="quoted \"inner\" and\ttab" flag took=1s`,
				`msg=bare-value level=debug`,
				`level=error msg="unterminated`,
				`plain text line`,
			),
		},
		{
			name: "regex",
			stages: `
- regex: {expression: '^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) \S+" (?P<status>\d+)'}
- regex: {expression: '^/(?P<area>[a-z]+)', source: path}
- labels: {method: "", status: "", area: ""}
- timestamp: {source: time, format: "02/Jan/2006:15:04:05 -0700"}
`,
			in: entries(apiLabels,
				`10.0.0.1 - - [14/Mar/2026:10:00:00 +0100] "GET /api/v1/x HTTP/1.1" 200 512`,
				`10.0.0.2 - - [14/Mar/2026:10:00:01 +0100] "POST /login HTTP/1.1" 401 0`,
				`garbage that does not match`,
			),
		},
		{
			name: "labels",
			stages: `
- static_labels: {cluster: dev, app: overridden}
- label_drop: [filename, absent]
- regex: {expression: 'user=(?P<user>\w+)'}
- labels: {user: ""}
- label_keep: [app, namespace, cluster, user]
`,
			in: entries(apiLabels, "user=ana did things", "no user here"),
		},
		{
			name: "structured_metadata_moves_labels",
			stages: `
- regex: {expression: 'trace=(?P<trace_id>[0-9a-f]+)'}
- structured_metadata: {trace_id: "", pod_uid: uid}
`,
			in: []pipeline.LogEntry{
				{Labels: model.LabelSet{"app": "api", "uid": "1234-abcd"}, Timestamp: base, Line: "trace=00ff handled",
					StructuredMetadata: labels.FromStrings("stream", "stdout")},
				{Labels: model.LabelSet{"app": "api"}, Timestamp: base, Line: "no trace"},
			},
		},
		{
			name: "timestamp",
			stages: `
- regex: {expression: '^(?P<ts>\S+ ?\S*?) (?P<kind>\w+)$'}
- match:
    selector: '{app="api"} |= " rfc"'
    stages: [{timestamp: {source: ts, format: RFC3339Nano}}]
- match:
    selector: '{app="api"} |= " unix"'
    stages: [{timestamp: {source: ts, format: UnixMs, fallback_formats: [Unix]}}]
- match:
    selector: '{app="api"} |= " local"'
    stages: [{timestamp: {source: ts, format: "2006-01-02 15:04:05", location: America/New_York}}]
- match:
    selector: '{app="api"} |= " skip"'
    stages: [{timestamp: {source: ts, format: RFC3339, action_on_failure: skip}}]
- match:
    selector: '{app="api"} |= " fudge"'
    stages: [{timestamp: {source: ts, format: RFC3339}}]
`,
			in: entries(apiLabels,
				"2026-01-02T03:04:05.123456789+02:00 rfc",
				"1767322800.25 unix",
				"1767322800250 unix",
				"2026-01-02 03:04:05 local",
				"bogus skip",
				"2026-01-02T03:04:05Z fudge",
				"bogus fudge",
				"bogus fudge",
			),
		},
		{
			name: "match",
			stages: `
- match:
    selector: '{app="api"} |= "GET /healthz"'
    action: drop
    drop_counter_reason: healthz
- match:
    selector: '{app=~"api|web", namespace!="kube-system"} |~ "(?i)error"'
    stages:
      - static_labels: {severity: error}
      - match:
          selector: '{severity="error"} != "retrying"'
          stages: [{static_labels: {page: "yes"}}]
- match:
    selector: '{app="web"}'
    action: drop
`,
			in: append(entries(apiLabels, "GET /healthz 200", "ERROR db down", "error: retrying", "all fine"),
				entries(model.LabelSet{"app": "web", "namespace": "kube-system"}, "Error somewhere")...),
		},
		{
			name: "drop",
			stages: `
- logfmt: {mapping: {level: "", ns: "", app: ""}}
- drop: {expression: "^DEBUG"}
- drop: {source: level, value: trace, drop_counter_reason: trace}
- drop: {source: [ns, app], separator: "/", expression: "^kube-system/", drop_counter_reason: system}
- drop: {source: ns}
- drop: {longer_than: 20B, drop_counter_reason: long}
- drop: {older_than: 1h, drop_counter_reason: old}
`,
			in: []pipeline.LogEntry{
				{Labels: apiLabels, Timestamp: future, Line: "DEBUG x"},
				{Labels: apiLabels, Timestamp: future, Line: "level=trace"},
				{Labels: apiLabels, Timestamp: future, Line: "app=x ns=kube-system"},
				{Labels: apiLabels, Timestamp: future, Line: "ns=other"},
				{Labels: apiLabels, Timestamp: future, Line: "level=info this line is long"},
				{Labels: apiLabels, Timestamp: base, Line: "level=info"},
				{Labels: apiLabels, Timestamp: future, Line: "level=info kept"},
			},
		},
		{
			name:   "limit_drop",
			stages: "- limit: {rate: 0.001, burst: 2, drop: true}\n",
			in:     entries(apiLabels, "1", "2", "3", "4", "5"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, host := newComponent(t, tc.stages)
			in := append([]pipeline.LogEntry(nil), tc.in...)
			acked := make(chan error, 1)
			require.NoError(t, c.ConsumeLogs(context.Background(), pipeline.NewLogBatch(tc.in, func(err error) { acked <- err })))
			require.NoError(t, <-acked)
			require.Equal(t, in, tc.in, "the incoming entries must not be modified")
			golden(t, tc.name, render(c, host.LogsSink.Entries()))
		})
	}
}

// TestDroppedBatchIsAcked: a batch whose entries are all dropped is acknowledged at once
// and nothing is sent.
func TestDroppedBatchIsAcked(t *testing.T) {
	c, host := newComponent(t, "- drop: {expression: '.*'}\n")
	acked := make(chan error, 1)
	require.NoError(t, c.ConsumeLogs(context.Background(), pipeline.NewLogBatch(entries(apiLabels, "a", "b"), func(err error) { acked <- err })))
	require.NoError(t, <-acked)
	require.Empty(t, host.LogsSink.Entries())
}

// TestAckFollowsDownstream: the batch sent on carries the incoming Ack.
func TestAckFollowsDownstream(t *testing.T) {
	c, host := newComponent(t, "- static_labels: {a: b}\n")
	host.LogsSink.Hold(true)
	acked := make(chan error, 1)
	require.NoError(t, c.ConsumeLogs(context.Background(), pipeline.NewLogBatch(entries(apiLabels, "x"), func(err error) { acked <- err })))
	select {
	case <-acked:
		t.Fatal("acknowledged before the downstream did")
	default:
	}
	require.Equal(t, 1, host.LogsSink.AckHeld(nil))
	require.NoError(t, <-acked)
}

// TestLimitWaitHonoursContext: a limit that waits gives up when the caller's context ends,
// and the batch is then not accepted (and never acknowledged).
func TestLimitWaitHonoursContext(t *testing.T) {
	c, _ := newComponent(t, "- limit: {rate: 0.001, burst: 1}\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	acked := false
	err := c.ConsumeLogs(ctx, pipeline.NewLogBatch(entries(apiLabels, "1", "2"), func(error) { acked = true }))
	require.Error(t, err)
	require.False(t, acked)
}

// TestLabelSetsAreShared: entries whose labels end up equal share one label set.
func TestLabelSetsAreShared(t *testing.T) {
	c, host := newComponent(t, "- regex: {expression: 'level=(?P<level>\\w+)'}\n- labels: {level: ''}\n")
	require.NoError(t, c.ConsumeLogs(context.Background(), pipeline.NewLogBatch(entries(apiLabels, "level=info a", "level=info b", "level=warn c"), nil)))
	out := host.LogsSink.Entries()
	require.Len(t, out, 3)
	require.Equal(t, model.LabelValue("info"), out[0].Labels["level"])
	out[0].Labels["probe"] = "x" // same map
	require.Equal(t, model.LabelValue("x"), out[1].Labels["probe"])
	require.NotContains(t, out[2].Labels, model.LabelName("probe"))
	require.NotContains(t, apiLabels, model.LabelName("level"), "the source's label set is never modified")
}

func TestLifecycle(t *testing.T) {
	args := &Arguments{ForwardTo: []string{"loki.write/a"}, Stages: []StageConfig{{Multiline: &MultilineConfig{FirstLine: "^x"}}}}
	updated := &Arguments{ForwardTo: []string{"loki.write/b"}, Stages: []StageConfig{{StaticLabels: map[string]string{"a": "b"}}}}
	pipelinetest.Lifecycle(t, Registration, args, updated)
}
