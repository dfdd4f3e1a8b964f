package write

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

// encodeAll encodes es as one request body.
func encodeAll(t testing.TB, index string, dataStream bool, es []pipeline.LogEntry) []byte {
	t.Helper()
	tmpl, err := parseIndex(index)
	require.NoError(t, err)
	enc := newDocEncoder(tmpl, dataStream)
	var b []byte
	for i := range es {
		b = enc.appendEntry(b, &es[i])
	}
	return b
}

// Each entry is two lines of valid JSON that decode back to the entry, whatever its line holds.
func TestEncodeRoundTrip(t *testing.T) {
	ts := time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.UTC)
	lines := []string{"plain", `quote " and \ backslash`, "tab\tnew\nline\r", "ctl \x00\x01\x1f", "html <a>&</a>", "utf8 é ☃ 😀", "bad \xff\xfe utf8", "sep \u2028\u2029"}
	var es []pipeline.LogEntry
	for _, l := range lines {
		es = append(es, pipeline.LogEntry{Labels: model.LabelSet{"job": "j", "ns": `we"ird`}, Timestamp: ts, Line: l, StructuredMetadata: labels.FromStrings("trace_id", "t\"1")})
	}
	body := encodeAll(t, "logs-{ns}-%Y", false, es)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for i := 0; sc.Scan(); i++ {
		var action map[string]map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &action), sc.Text())
		require.Equal(t, map[string]map[string]string{"index": {"_index": "logs-we_ird-2024"}}, action)
		require.True(t, sc.Scan())
		var doc struct {
			Timestamp time.Time         `json:"@timestamp"`
			Message   string            `json:"message"`
			Labels    map[string]string `json:"labels"`
			Metadata  map[string]string `json:"metadata"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &doc), sc.Text())
		require.Equal(t, ts, doc.Timestamp)
		want, _ := json.Marshal(lines[i]) // encoding/json also makes each invalid byte a U+FFFD
		var line string
		require.NoError(t, json.Unmarshal(want, &line))
		require.Equal(t, line, doc.Message)
		require.Equal(t, map[string]string{"job": "j", "ns": `we"ird`}, doc.Labels)
		require.Equal(t, map[string]string{"trace_id": "t\"1"}, doc.Metadata)
	}
	// The same bytes as encoding/json for valid UTF-8, HTML escaping aside.
	for _, l := range lines[:6] {
		want, _ := json.Marshal(l)
		want = bytes.ReplaceAll(bytes.ReplaceAll(bytes.ReplaceAll(want, []byte(`\u003c`), []byte("<")), []byte(`\u003e`), []byte(">")), []byte(`\u0026`), []byte("&"))
		require.Equal(t, string(want), string(appendString(nil, l)))
	}
}

func TestEncodeDataStream(t *testing.T) {
	body := encodeAll(t, "logs-app-default", true, []pipeline.LogEntry{{Timestamp: time.Unix(0, 0), Line: "x"}})
	require.Equal(t, `{"create":{"_index":"logs-app-default"}}`+"\n"+`{"@timestamp":"1970-01-01T00:00:00Z","message":"x"}`+"\n", string(body))
}

// outcomeOf runs a bulk answer over a request of n pending operations (one part).
func outcomeOf(t *testing.T, n int, answer string) (*request, int, map[string]int, map[string]int) {
	t.Helper()
	tmpl, err := parseIndex("i")
	require.NoError(t, err)
	r := &request{}
	r.reset(newDocEncoder(tmpl, false))
	it := &item{entries: make([]pipeline.LogEntry, n)}
	for i := range n {
		r.add(0, &it.entries[i])
	}
	r.parts = append(r.parts, part{it: it, end: n})
	stored, dropped, retry := r.outcome([]byte(answer))
	return r, stored, dropped, retry
}

func TestOutcome(t *testing.T) {
	ok := `{"index":{"_index":"i","status":201}}`
	for _, tc := range []struct {
		name    string
		n       int
		answer  string
		stored  int
		dropped map[string]int
		retry   map[string]int
		pending []int
	}{
		{name: "all stored", n: 2, answer: `{"took":3,"errors":false,"items":[` + ok + `,` + ok + `]}`, stored: 2, pending: []int{}},
		{name: "all stored, no items", n: 2, answer: `{"errors":false}`, stored: 2, pending: []int{}},
		{name: "all stored, items not read", n: 2, answer: `{"took":3,"errors":false,"items":[not read]}`, stored: 2, pending: []int{}},
		{name: "all stored, pretty", n: 2, answer: "{\n  \"took\" : 3,\n  \"errors\" : false,\n  \"items\" : [ ]\n}", stored: 2, pending: []int{}},
		{
			name: "mixed", n: 5,
			answer: `{"errors":true,"items":[` + ok + `,
				{"create":{"_index":"i","status":429,"error":{"type":"es_rejected_execution_exception","reason":"busy"}}},
				{"create":{"_index":"i","status":400,"error":{"type":"document_parsing_exception","reason":"failed to parse field [x]"}}},
				{"create":{"_index":"i","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
				{"create":{"_index":"i","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}]}`,
			stored: 1, dropped: map[string]int{"mapping": 1, "conflict": 1}, retry: map[string]int{"item_429": 1, "item_5xx": 1}, pending: []int{1, 3},
		},
		{name: "fewer items", n: 3, answer: `{"errors":true,"items":[` + ok + `]}`, stored: 1, dropped: map[string]int{}, retry: map[string]int{"incomplete": 2}, pending: []int{1, 2}},
		{name: "more items", n: 1, answer: `{"errors":true,"items":[` + ok + `,` + ok + `]}`, retry: map[string]int{"bad_answer": 1}, pending: []int{0}},
		{name: "not JSON", n: 2, answer: `<html>`, retry: map[string]int{"bad_answer": 2}, pending: []int{0, 1}},
		{
			name: "ZincSearch stops at a failed document", n: 4,
			answer: `{"took":0,"errors":false,"error":"field [labels.code] was set type to [numeric] but the value [x] can't convert to int","items":[` + ok + `,` + ok + `]}`,
			stored: 1, dropped: map[string]int{"mapping": 1}, retry: map[string]int{}, pending: []int{2, 3},
		},
		{name: "ZincSearch error and no items", n: 2, answer: `{"errors":false,"error":"boom","items":[]}`, retry: map[string]int{"bad_answer": 2}, pending: []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, stored, dropped, retry := outcomeOf(t, tc.n, tc.answer)
			require.Equal(t, tc.stored, stored)
			require.Equal(t, tc.dropped, dropped)
			require.Equal(t, tc.retry, retry)
			require.Equal(t, tc.pending, append([]int{}, r.pending...))
		})
	}
}

// A retry's body holds the pending operations only, byte for byte as first encoded.
func TestRetryBody(t *testing.T) {
	r, _, _, _ := outcomeOf(t, 3, `{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429}},{"index":{"status":201}}]}`)
	require.Equal(t, string(r.buf[r.ops[1].start:r.ops[1].end]), string(r.nextBody()))
	require.Equal(t, 2, bytes.Count(r.nextBody(), []byte("\n")))
}

// The buffers grown for a backlog's large requests are let go once small requests have
// not needed half of them for bufferIdle.
func TestRequestBuffersReleased(t *testing.T) {
	tmpl, err := parseIndex("i")
	require.NoError(t, err)
	enc := newDocEncoder(tmpl, false)
	r := &request{}
	big := pipeline.LogEntry{Line: strings.Repeat("x", 1<<20)}
	r.reset(enc)
	r.add(0, &big)
	small := pipeline.LogEntry{Line: "x"}
	r.reset(enc)
	r.add(0, &small)
	require.GreaterOrEqual(t, cap(r.buf), 1<<20, "kept while recent")
	r.largeAt = r.largeAt.Add(-bufferIdle)
	r.reset(enc)
	r.add(0, &small)
	require.Less(t, cap(r.buf), 1<<10, "let go after bufferIdle")
}
