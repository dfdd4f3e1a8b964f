package write

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestStopWhileDown: Elasticsearch answers 503 when the component is stopped: Run returns
// after drain_timeout, and the batch is not acknowledged (its source sends it again after
// the restart), neither as delivered nor with an error.
func TestStopWhileDown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, opts, stop := startWriter(t, "endpoint: {url: "+srv.URL+"}\nbatch_wait: 10ms\nmin_backoff: 10ms\nmax_backoff: 20ms\nqueue_config: {drain_timeout: 300ms}\n")
	a := newAcks()
	send(t, c, a.batch("b", entries(model.LabelSet{"job": "x"}, "line", 10, time.Now())))
	g := opts.Registerer.(prometheus.Gatherer)
	require.Eventually(t, func() bool {
		return pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_retried_entries_total", "reason", "http_5xx") >= 20
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 10.0, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_queue_entries"))
	began := time.Now()
	stop()
	took := time.Since(began)
	t.Logf("stopped in %v with Elasticsearch down (drain_timeout 300ms)", took.Round(time.Millisecond))
	require.Less(t, took, 5*time.Second)
	_, acked := a.acked("b")
	require.False(t, acked, "an undelivered batch is not acknowledged")
	require.Zero(t, pipelinetest.MetricSum(t, g, "sonde_elasticsearch_write_dropped_entries_total"))
}

// bulkRecorder is a bulk endpoint that stores everything and records each request's
// operations (action lines).
type bulkRecorder struct {
	mu      sync.Mutex
	actions []map[string]map[string]string
}

func (r *bulkRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	sc := bufio.NewScanner(bytes.NewReader(body))
	n := 0
	r.mu.Lock()
	for sc.Scan() {
		var a map[string]map[string]string
		_ = json.Unmarshal(sc.Bytes(), &a)
		r.actions = append(r.actions, a)
		sc.Scan()
		n++
	}
	r.mu.Unlock()
	_, _ = w.Write([]byte(`{"errors":false,"items":[]}`))
}

func (r *bulkRecorder) indices() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.actions {
		for _, v := range a {
			out = append(out, v["_index"])
		}
	}
	return out
}

// TestUpdate: an update applies to what is sent from then on; the queue stays.
func TestUpdate(t *testing.T) {
	rec := &bulkRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c, _, stop := startWriter(t, "endpoint: {url: "+srv.URL+"}\nbatch_wait: 10ms\nindex: first\n")
	defer stop()
	a := newAcks()
	send(t, c, a.batch("1", entries(model.LabelSet{"job": "x"}, "a", 2, time.Now())))
	require.NoError(t, a.wait(t, "1"))
	require.NoError(t, c.Update(validArgs(t, "endpoint: {url: "+srv.URL+"}\nbatch_wait: 10ms\nindex: second-{job}\ndata_stream: true\n")))
	send(t, c, a.batch("2", entries(model.LabelSet{"job": "x"}, "b", 2, time.Now())))
	require.NoError(t, a.wait(t, "2"))
	require.Equal(t, []string{"first", "first", "second-x", "second-x"}, rec.indices())
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Contains(t, rec.actions[0], "index")
	require.Contains(t, rec.actions[3], "create")
}

// TestNodesInTurn: with several URLs, a request that gets no answer from one node is sent
// to the next.
func TestNodesInTurn(t *testing.T) {
	rec := &bulkRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // nothing listens there any more
	c, opts, stop := startWriter(t, "endpoint: {url: ["+dead.URL+", "+srv.URL+"]}\nbatch_wait: 10ms\nmin_backoff: 10ms\n")
	defer stop()
	a := newAcks()
	for _, b := range []string{"1", "2", "3"} {
		send(t, c, a.batch(b, entries(model.LabelSet{"job": "x"}, b, 5, time.Now())))
		require.NoError(t, a.wait(t, b))
	}
	require.Len(t, rec.indices(), 15, "every entry once")
	g := opts.Registerer.(prometheus.Gatherer)
	require.Positive(t, pipelinetest.MetricValue(t, g, "sonde_elasticsearch_write_retried_entries_total", "reason", "network"))
	require.Equal(t, pipeline.HealthHealthy, opts.Health.Get().State)
}

// TestDebugInfo: the debug view shows the nodes without their passwords, the queue and the
// last error; it is safe to read while the component works (race detector).
func TestDebugInfo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1)
	c, _, stop := startWriter(t, "endpoint: {url: "+u+"}\nbatch_wait: 10ms\nmin_backoff: 10ms\nmax_backoff: 20ms\nqueue_config: {drain_timeout: 100ms}\n")
	defer stop()
	hammer := pipelinetest.HammerDebugInfo(c)
	defer hammer()
	send(t, c, newAcks().batch("b", entries(model.LabelSet{"job": "x"}, "line", 7, time.Now())))
	require.Eventually(t, func() bool { return c.DebugInfo().(DebugInfo).Retries >= 2 }, 10*time.Second, 5*time.Millisecond)
	d := c.DebugInfo().(DebugInfo)
	require.Equal(t, []string{strings.Replace(srv.URL, "http://", "http://user:xxxxx@", 1)}, d.URLs)
	require.Equal(t, 7, d.QueueEntries)
	require.Equal(t, http.StatusServiceUnavailable, d.LastStatusCode)
	require.Contains(t, d.LastError, "503")
	b, err := json.Marshal(d)
	require.NoError(t, err)
	require.NotContains(t, string(b), "s3cret")
}
