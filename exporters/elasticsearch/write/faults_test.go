package write

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/elasticsearch/write/estest"
	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// faultProxy stands in front of ZincSearch's bulk API and injects faults: the documents
// whose message contains a marker are answered 429 the first time they come (they are
// kept from ZincSearch), and pass the next time. It counts how often each message was
// passed on, and can require an API key instead of ZincSearch's basic auth.
type faultProxy struct {
	zinc    *estest.Zinc
	marker  string
	apiKey  string       // when set: requests must carry "Authorization: ApiKey <apiKey>"
	down    atomic.Bool  // when set: every request is answered 503
	gzipped atomic.Int64 // requests that came gzip-compressed

	mu        sync.Mutex
	rejected  map[string]int // message → times answered 429
	forwarded map[string]int // message → times passed to ZincSearch
	requests  int
}

func newFaultProxy(t *testing.T, z *estest.Zinc, marker string) (*faultProxy, string) {
	p := &faultProxy{zinc: z, marker: marker, rejected: map[string]int{}, forwarded: map[string]int{}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL + "/es"
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	if p.apiKey != "" && r.Header.Get("Authorization") != "ApiKey "+p.apiKey {
		http.Error(w, `{"error":"missing API key"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/es/_bulk" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var in io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		// ZincSearch takes no compressed bodies: the proxy inflates them.
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.gzipped.Add(1)
		in = zr
	}
	body, err := io.ReadAll(in)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Operations are pairs of lines: the action, the document.
	var (
		pass     bytes.Buffer
		injected = map[int]bool{} // operation index → answered 429 here
		ops      int
	)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	p.mu.Lock()
	p.requests++
	for sc.Scan() {
		action := append([]byte(nil), sc.Bytes()...)
		if !sc.Scan() {
			break
		}
		doc := sc.Bytes()
		var d struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(doc, &d)
		if p.marker != "" && strings.Contains(d.Message, p.marker) && p.rejected[d.Message] == 0 {
			p.rejected[d.Message]++
			injected[ops] = true
		} else {
			p.forwarded[d.Message]++
			pass.Write(action)
			pass.WriteByte('\n')
			pass.Write(doc)
			pass.WriteByte('\n')
		}
		ops++
	}
	p.mu.Unlock()

	var upstream struct {
		Errors bool              `json:"errors"`
		Items  []json.RawMessage `json:"items"`
	}
	if pass.Len() > 0 {
		req, _ := http.NewRequest(http.MethodPost, p.zinc.ESURL()+"/_bulk", &pass)
		req.SetBasicAuth(estest.User, estest.Password)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &upstream) != nil {
			w.WriteHeader(resp.StatusCode)
			w.Write(b)
			return
		}
	}
	items := make([]json.RawMessage, 0, ops)
	next := 0
	for i := range ops {
		if injected[i] {
			items = append(items, json.RawMessage(`{"create":{"_index":"x","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}}`))
			continue
		}
		items = append(items, upstream.Items[next])
		next++
	}
	out, _ := json.Marshal(map[string]any{"took": 1, "errors": upstream.Errors || len(injected) > 0, "items": items})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (p *faultProxy) counts() (rejected, forwarded map[string]int, requests int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, f := map[string]int{}, map[string]int{}
	for k, v := range p.rejected {
		r[k] = v
	}
	for k, v := range p.forwarded {
		f[k] = v
	}
	return r, f, p.requests
}

// TestZincItemRetries: the bulk answer rejects every tenth document with 429; those are
// sent again, alone, and the documents stored are never sent twice; ZincSearch ends with
// every line once and the batch is acknowledged without error.
func TestZincItemRetries(t *testing.T) {
	z := estest.Start(t)
	p, url := newFaultProxy(t, z, "-retry")
	c, opts, stop := startWriter(t, "endpoint: {url: "+url+"}\nbatch_wait: 20ms\nmin_backoff: 10ms\nmax_backoff: 50ms\nindex: items\n")
	defer stop()

	es := entries(model.LabelSet{"job": "x"}, "line", 500, time.Now())
	for i := range es {
		if i%10 == 3 {
			es[i].Line += "-retry"
		}
	}
	a := newAcks()
	send(t, c, a.batch("b", es))
	require.NoError(t, a.wait(t, "b"))

	rejected, forwarded, requests := p.counts()
	require.Len(t, rejected, 50)
	require.Len(t, forwarded, 500, "every line reached ZincSearch")
	for line, n := range forwarded {
		require.Equal(t, 1, n, "%s sent to ZincSearch %d times", line, n)
	}
	t.Logf("%d bulk requests", requests)
	g := opts.Registerer.(prometheus.Gatherer)
	require.Equal(t, 50.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_retried_entries_total", "reason", "item_429"))
	require.Equal(t, 500.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_sent_entries_total"))
	require.Zero(t, pipelinetest.MetricSum(t, g, "sonde_elasticsearch_write_dropped_entries_total"))

	docs := z.WaitDocs(t, "items", "", 500, 30*time.Second)
	seen := map[string]int{}
	for _, d := range docs {
		seen[d.Message]++
	}
	require.Len(t, seen, 500)
	for line, n := range seen {
		require.Equal(t, 1, n, "%s stored %d times", line, n)
	}
}

// TestZincMappingError: a document ZincSearch cannot store (a label value that is not a
// number where the index maps a number) is dropped and counted with reason mapping, the
// acknowledgement says so, and the other documents, before and after it, are stored once.
func TestZincMappingError(t *testing.T) {
	z := estest.Start(t)
	z.PutMapping(t, "typed", map[string]string{"labels.code": "numeric", "message": "text"})
	c, opts, stop := startWriter(t, zincArgs(z.ESURL(), "index: typed\n"))
	defer stop()

	now := time.Now()
	ok := entries(model.LabelSet{"code": "200"}, "ok", 100, now)
	bad := entries(model.LabelSet{"code": "not-a-number"}, "bad", 2, now)
	es := append(append(append([]pipeline.LogEntry(nil), ok[:50]...), bad...), ok[50:]...)
	a := newAcks()
	send(t, c, a.batch("b", es))
	err := a.wait(t, "b")
	require.Error(t, err)
	require.Contains(t, err.Error(), "2 of 102 entries dropped (mapping: 2)")
	t.Logf("acknowledged with: %v", err)

	g := opts.Registerer.(prometheus.Gatherer)
	require.Equal(t, 2.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_dropped_entries_total", "reason", "mapping"))
	require.Equal(t, 100.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_sent_entries_total"))

	docs := z.WaitDocs(t, "typed", "", 100, 30*time.Second)
	seen := map[string]int{}
	for _, d := range docs {
		seen[d.Message]++
	}
	require.Len(t, seen, 100)
	for line, n := range seen {
		require.Equal(t, 1, n, "%s stored %d times", line, n)
		require.True(t, strings.HasPrefix(line, "ok-"), line)
	}
}

// TestZincAuthFailure: wrong credentials are a clear error: the batch is acknowledged with
// an error that says so (its entries are dropped and counted as unauthorized), the
// component's health says so, and nothing is stored.
func TestZincAuthFailure(t *testing.T) {
	z := estest.Start(t)
	c, opts, stop := startWriter(t, "endpoint:\n  url: "+z.ESURL()+"\n  basic_auth: {username: admin, password: wrong}\nbatch_wait: 20ms\nindex: denied\n")
	defer stop()

	a := newAcks()
	send(t, c, a.batch("b", entries(model.LabelSet{"job": "x"}, "line", 10, time.Now())))
	err := a.wait(t, "b")
	require.Error(t, err)
	require.Contains(t, err.Error(), "authentication or authorization failed")
	require.Contains(t, err.Error(), "401")
	require.Contains(t, err.Error(), "unauthorized: 10")
	g := opts.Registerer.(prometheus.Gatherer)
	require.Equal(t, 10.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_dropped_entries_total", "reason", "unauthorized"))
	require.Contains(t, opts.Health.Get().Message, "401")
	require.Equal(t, pipeline.HealthUnhealthy, opts.Health.Get().State)
	docs, serr := z.Search(t.Context(), "denied", "", 10)
	require.NoError(t, serr)
	require.Empty(t, docs)
}

// TestZincAPIKey: api_key is sent as "Authorization: ApiKey <key>" (ZincSearch has no API
// keys: a proxy that accepts only that header stands in front of it).
func TestZincAPIKey(t *testing.T) {
	z := estest.Start(t)
	p, url := newFaultProxy(t, z, "")
	p.apiKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
	c, _, stop := startWriter(t, "endpoint: {url: "+url+", api_key: "+p.apiKey+"}\nbatch_wait: 20ms\nindex: keyed\n")
	defer stop()
	a := newAcks()
	send(t, c, a.batch("b", entries(model.LabelSet{"job": "x"}, "line", 10, time.Now())))
	require.NoError(t, a.wait(t, "b"))
	z.WaitDocs(t, "keyed", "", 10, 30*time.Second)
}

// TestZincDataStream: with data_stream, documents go to the data stream with the create
// operation.
func TestZincDataStream(t *testing.T) {
	z := estest.Start(t)
	c, _, stop := startWriter(t, zincArgs(z.ESURL(), "index: logs-{app:-none}-default\ndata_stream: true\n"))
	defer stop()
	a := newAcks()
	send(t, c, a.batch("b", entries(model.LabelSet{"app": "web"}, "line", 10, time.Now())))
	send(t, c, a.batch("c", entries(model.LabelSet{"job": "x"}, "other", 5, time.Now())))
	require.NoError(t, a.wait(t, "b"))
	require.NoError(t, a.wait(t, "c"))
	z.WaitDocs(t, "logs-web-default", "", 10, 30*time.Second)
	z.WaitDocs(t, "logs-none-default", "", 5, 30*time.Second)
}

// TestZincGzip: with compression: gzip, request bodies are gzip-compressed (a proxy
// inflates them for ZincSearch, which takes none) and every line is stored once.
func TestZincGzip(t *testing.T) {
	z := estest.Start(t)
	p, url := newFaultProxy(t, z, "")
	c, opts, stop := startWriter(t, "endpoint: {url: "+url+", compression: gzip}\nbatch_wait: 20ms\nindex: gz\n")
	defer stop()
	a := newAcks()
	send(t, c, a.batch("b", entries(model.LabelSet{"job": "x"}, "line", 1000, time.Now())))
	require.NoError(t, a.wait(t, "b"))
	require.Positive(t, p.gzipped.Load())
	_, forwarded, _ := p.counts()
	require.Len(t, forwarded, 1000)
	docs := z.WaitDocs(t, "gz", "", 1000, 30*time.Second)
	require.Len(t, docs, 1000)
	sent := pipelinetest.MetricValue(t, opts.Registerer.(prometheus.Gatherer), "sonde_elasticsearch_write_sent_bytes_total")
	t.Logf("1000 entries in %.0f bytes compressed", sent)
	require.Less(t, sent, 1000.0*50, "compressed")
}
