package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  Arguments
		field string
	}{
		{"defaults", *DefaultArguments(), ""},
		{"zero max_series", Arguments{MaxSeries: 0, StaleAfter: model.Duration(time.Minute)}, "max_series"},
		{"negative stale_after", Arguments{MaxSeries: 1, StaleAfter: -1}, "stale_after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.args.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *pipeline.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tc.field, fe.Field)
		})
	}
}

// newSink returns a sink with its own registry.
func newSink(t testing.TB, a *Arguments) (*Component, *prometheus.Registry) {
	t.Helper()
	opts := pipelinetest.Options(t, "prometheus.serve/test", pipelinetest.NewHost())
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	c, err := New(opts, a)
	require.NoError(t, err)
	return c, reg
}

type in struct {
	lset labels.Labels
	t    int64
	v    float64
}

// appendAll appends the samples in one transaction and commits.
func appendAll(t testing.TB, app storage.Appendable, samples ...in) {
	t.Helper()
	a := app.Appender(context.Background())
	for _, s := range samples {
		ref, err := a.Append(0, s.lset, s.t, s.v)
		require.NoError(t, err)
		require.NotZero(t, ref)
	}
	require.NoError(t, a.Commit())
}

// get serves one request and returns the status and the (decompressed) body.
func get(t testing.TB, c *Component, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		require.NoError(t, err)
		body, err = io.ReadAll(zr)
		require.NoError(t, err)
	}
	return rec.Code, rec.Header(), body
}

// now is a fixed sample timestamp (ms) for golden output.
const now = int64(1_700_000_000_000)

func TestExpositionGolden(t *testing.T) {
	c, _ := newSink(t, DefaultArguments())
	appendAll(t, c.Appendable(),
		in{labels.FromStrings("__name__", "up", "job", "node", "instance", "a:9100"), now, 1},
		in{labels.FromStrings("__name__", "up", "job", "node", "instance", "b:9100"), now, 0},
		in{labels.FromStrings("__name__", "node_load1", "instance", "a:9100"), now - 15000, 0.21},
		in{labels.FromStrings("__name__", "http_requests_total", "path", `/a"b\c`+"\n", "code", "200"), now, 1027},
		in{labels.FromStrings("__name__", "temperature", "sensor", "x"), now, math.Inf(1)},
		in{labels.FromStrings("__name__", "ratio"), now, math.NaN()},
		in{labels.FromStrings("__name__", "request_duration_seconds_bucket", "le", "0.1"), now, 3},
		in{labels.FromStrings("__name__", "request_duration_seconds_bucket", "le", "+Inf"), now, 5},
	)
	code, header, body := get(t, c, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, header.Get("Content-Type"), "text/plain")
	golden := filepath.Join("testdata", "exposition.prom")
	if *update {
		require.NoError(t, os.WriteFile(golden, body, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), string(body))

	// What is served parses back to what was appended.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	require.Len(t, fams["up"].GetMetric(), 2)
	require.Equal(t, now-15000, fams["node_load1"].GetMetric()[0].GetTimestampMs())
	require.Equal(t, `/a"b\c`+"\n", fams["http_requests_total"].GetMetric()[0].GetLabel()[1].GetValue())
}

func TestFormats(t *testing.T) {
	c, _ := newSink(t, DefaultArguments())
	appendAll(t, c.Appendable(), in{labels.FromStrings("__name__", "up", "job", "x"), now, 1})

	t.Run("protobuf", func(t *testing.T) {
		code, header, body := get(t, c, http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}})
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, header.Get("Content-Type"), "application/vnd.google.protobuf")
		dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
		var mf dto.MetricFamily
		require.NoError(t, dec.Decode(&mf))
		require.Equal(t, "up", mf.GetName())
		require.Equal(t, now, mf.GetMetric()[0].GetTimestampMs())
	})
	t.Run("openmetrics", func(t *testing.T) {
		code, _, body := get(t, c, http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "# TYPE up unknown\nup{job=\"x\"} 1.0 1.7e+09\n# EOF\n", string(body))
	})
	t.Run("gzip", func(t *testing.T) {
		code, header, body := get(t, c, http.Header{"Accept-Encoding": {"br, gzip;q=0.9"}})
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "gzip", header.Get("Content-Encoding"))
		require.Equal(t, "# TYPE up untyped\nup{job=\"x\"} 1 1700000000000\n", string(body))
	})
	t.Run("other paths", func(t *testing.T) {
		rec := httptest.NewRecorder()
		c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/other", nil))
		require.Equal(t, http.StatusNotFound, rec.Code)
	})
}

func TestStoreSemantics(t *testing.T) {
	up := labels.FromStrings("__name__", "up", "job", "x")
	other := labels.FromStrings("__name__", "other", "job", "x")
	for _, tc := range []struct {
		name     string
		max      int
		batches  [][]in
		want     string
		received float64
		dropped  map[string]float64
		removed  map[string]float64
	}{
		{
			name:     "latest wins",
			max:      10,
			batches:  [][]in{{{up, now, 1}}, {{up, now + 1000, 2}}},
			want:     "# TYPE up untyped\nup{job=\"x\"} 2 1700000001000\n",
			received: 2,
		},
		{
			name:     "older sample is dropped",
			max:      10,
			batches:  [][]in{{{up, now, 1}}, {{up, now - 1000, 2}}},
			want:     "# TYPE up untyped\nup{job=\"x\"} 1 1700000000000\n",
			received: 2,
			dropped:  map[string]float64{"out_of_order": 1},
		},
		{
			name:     "staleness marker deletes",
			max:      10,
			batches:  [][]in{{{up, now, 1}, {other, now, 1}}, {{up, now + 1000, math.Float64frombits(value.StaleNaN)}}},
			want:     "# TYPE other untyped\nother{job=\"x\"} 1 1700000000000\n",
			received: 3,
			removed:  map[string]float64{"stale_marker": 1},
		},
		{
			name:     "max_series refuses new series only",
			max:      1,
			batches:  [][]in{{{up, now, 1}, {other, now, 1}}, {{up, now + 1000, 2}, {other, now + 1000, 2}}},
			want:     "# TYPE up untyped\nup{job=\"x\"} 2 1700000001000\n",
			received: 4,
			dropped:  map[string]float64{"max_series": 2},
		},
		{
			name:     "series without a name",
			max:      10,
			batches:  [][]in{{{labels.FromStrings("job", "x"), now, 1}}},
			want:     "",
			received: 1,
			dropped:  map[string]float64{"no_metric_name": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, reg := newSink(t, &Arguments{MaxSeries: tc.max, StaleAfter: model.Duration(time.Hour)})
			for _, b := range tc.batches {
				appendAll(t, c.Appendable(), b...)
			}
			_, _, body := get(t, c, nil)
			require.Equal(t, tc.want, string(body))
			require.Equal(t, tc.received, testutil.ToFloat64(c.metrics.received))
			for _, reason := range []string{"max_series", "out_of_order", "no_metric_name", "native_histogram"} {
				require.Equal(t, tc.dropped[reason], pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_samples_dropped_total", "reason", reason), reason)
			}
			for _, reason := range []string{"stale_marker", "expired"} {
				require.Equal(t, tc.removed[reason], pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_series_removed_total", "reason", reason), reason)
			}
			require.Equal(t, float64(c.store.len()), testutil.ToFloat64(c.metrics.series))
		})
	}
}

// TestRefs: the reference returned by Append finds the series again; a wrong reference
// (another series', or a made-up one) is only a hint and still lands on the right series.
func TestRefs(t *testing.T) {
	c, _ := newSink(t, DefaultArguments())
	a1 := labels.FromStrings("__name__", "a", "i", "1")
	a2 := labels.FromStrings("__name__", "a", "i", "2")
	app := c.Appendable().Appender(context.Background())
	r1, _ := app.Append(0, a1, now, 1)
	r2, _ := app.Append(0, a2, now, 2)
	require.NoError(t, app.Commit())
	require.NotEqual(t, r1, r2)

	app = c.Appendable().Appender(context.Background())
	got, _ := app.Append(r1, a1, now+1, 10)
	require.Equal(t, r1, got)
	_, _ = app.Append(r1, a2, now+1, 20) // a1's reference for a2
	_, _ = app.Append(12345, a1, now+2, 11)
	require.NoError(t, app.Commit())
	_, _, body := get(t, c, nil)
	require.Equal(t, "# TYPE a untyped\na{i=\"1\"} 11 1700000000002\na{i=\"2\"} 20 1700000000001\n", string(body))
	require.Equal(t, 2, c.store.len())
}

// TestHashCollisions forces two series under one key, as colliding hashes would.
func TestHashCollisions(t *testing.T) {
	s := newStore(10)
	x := labels.FromStrings("__name__", "x")
	y := labels.FromStrings("__name__", "y")
	z := labels.FromStrings("__name__", "z")
	r := s.commit(&batch{samples: []pending{
		{ref: 7, lset: x, t: 1, v: 1, hashed: true},
		{ref: 7, lset: y, t: 1, v: 2, hashed: true},
		{ref: 7, lset: z, t: 1, v: 3, hashed: true},
	}}, 0)
	require.Equal(t, 3, r.created)
	require.Len(t, s.byHash, 1)
	r = s.commit(&batch{samples: []pending{
		{ref: 7, lset: y, t: 2, v: math.Float64frombits(value.StaleNaN), hashed: true}, // middle of the chain
		{ref: 7, lset: x, t: 2, v: 10, hashed: true},
	}}, 0)
	require.Equal(t, commitResult{staleMarkers: 1, series: 2}, r)
	got := map[string]float64{}
	snap, _ := s.snapshot(0)
	for _, smp := range snap {
		got[smp.lset.Get("__name__")] = smp.v
	}
	require.Equal(t, map[string]float64{"x": 10, "z": 3}, got)
	s.commit(&batch{samples: []pending{{ref: 7, lset: z, t: 3, v: math.Float64frombits(value.StaleNaN), hashed: true}, {ref: 7, lset: x, t: 3, v: math.Float64frombits(value.StaleNaN), hashed: true}}}, 0)
	require.Empty(t, s.byHash)
	require.Zero(t, s.len())
	require.Zero(t, s.names["x"].series)
	s.expire(1)
	require.Empty(t, s.names, "names are forgotten once without series for stale_after")
}

func TestRollback(t *testing.T) {
	c, reg := newSink(t, DefaultArguments())
	app := c.Appendable().Appender(context.Background())
	_, _ = app.Append(0, labels.FromStrings("__name__", "a"), now, 1)
	_, _ = app.AppendHistogram(0, labels.FromStrings("__name__", "h"), now, testHistogram(), nil)
	require.NoError(t, app.Rollback())
	_, _, body := get(t, c, http.Header{"Accept": {protoAccept}})
	require.Empty(t, body)
	require.Zero(t, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_samples_received_total"))
}

// TestExpiry: series not updated for stale_after leave the exposition at once and the
// store at the next sweep.
func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, reg := newSink(t, &Arguments{MaxSeries: 1, StaleAfter: model.Duration(time.Minute)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()

		ts := time.Now().UnixMilli()
		appendAll(t, c.Appendable(), in{labels.FromStrings("__name__", "old"), ts, 1})
		appendAll(t, c.Appendable(), in{labels.FromStrings("__name__", "refused"), ts, 1}) // max_series
		time.Sleep(59 * time.Second)
		_, _, body := get(t, c, nil)
		require.Contains(t, string(body), "old")

		time.Sleep(2 * time.Second) // past stale_after, before the next sweep
		_, _, body = get(t, c, nil)
		require.Empty(t, body)

		time.Sleep(sweepInterval(time.Minute))
		synctest.Wait()
		require.Zero(t, c.store.len())
		require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_series_removed_total", "reason", "expired"))
		require.Zero(t, testutil.ToFloat64(c.metrics.series))

		// Room again: the new series is kept.
		appendAll(t, c.Appendable(), in{labels.FromStrings("__name__", "new"), time.Now().UnixMilli(), 1})
		require.Equal(t, 1, c.store.len())

		// Update shortens stale_after and wakes the loop.
		require.NoError(t, c.Update(&Arguments{MaxSeries: 1, StaleAfter: model.Duration(10 * time.Second)}))
		time.Sleep(15 * time.Second)
		synctest.Wait()
		require.Zero(t, c.store.len())

		cancel()
		require.NoError(t, <-done)
	})
}

// TestConcurrent appends, commits and serves from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	c, _ := newSink(t, DefaultArguments())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			refs := make([]storage.SeriesRef, 100)
			for round := range 50 {
				app := c.Appendable().Appender(context.Background())
				for i := range refs {
					l := labels.FromStrings("__name__", "m", "worker", strconv.Itoa(w), "i", strconv.Itoa(i))
					refs[i], _ = app.Append(refs[i], l, int64(round), float64(round))
				}
				_ = app.Commit()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			get(t, c, nil)
		}
	})
	wg.Wait()
	require.Equal(t, 400, c.store.len())
}

func TestLifecycle(t *testing.T) {
	pipelinetest.Lifecycle(t, Registration, DefaultArguments(), &Arguments{MaxSeries: 10, StaleAfter: model.Duration(time.Minute)})
}

// BenchmarkAppend is the steady state of a scrape: 1000 known series per transaction,
// appended with the references returned last time, then committed. ns/op is per sample.
func BenchmarkAppend(b *testing.B) {
	c, _ := newSink(b, DefaultArguments())
	const n = 1000
	lsets := make([]labels.Labels, n)
	refs := make([]storage.SeriesRef, n)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", strconv.Itoa(i), "mode", "user", "instance", "node-a:9100", "job", "node")
	}
	app := c.Appendable()
	b.ReportAllocs()
	b.ResetTimer()
	i, t := 0, int64(0)
	var a storage.Appender
	for b.Loop() {
		if i == 0 {
			a = app.Appender(context.Background())
		}
		refs[i], _ = a.Append(refs[i], lsets[i], t, float64(t))
		if i++; i == n {
			_ = a.Commit()
			i, t = 0, t+15000
		}
	}
	if i > 0 {
		_ = a.Commit()
	}
}

// BenchmarkAppendNoRef is the same without references (a caller that does not cache
// them): every sample is hashed.
func BenchmarkAppendNoRef(b *testing.B) {
	c, _ := newSink(b, DefaultArguments())
	const n = 1000
	lsets := make([]labels.Labels, n)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", strconv.Itoa(i), "mode", "user", "instance", "node-a:9100", "job", "node")
	}
	app := c.Appendable()
	b.ReportAllocs()
	b.ResetTimer()
	i, t := 0, int64(0)
	var a storage.Appender
	for b.Loop() {
		if i == 0 {
			a = app.Appender(context.Background())
		}
		_, _ = a.Append(0, lsets[i], t, float64(t))
		if i++; i == n {
			_ = a.Commit()
			i, t = 0, t+15000
		}
	}
	if i > 0 {
		_ = a.Commit()
	}
}

// BenchmarkExposition serves 100000 series (the default max_series) in the text format.
func BenchmarkExposition(b *testing.B) {
	c, _ := newSink(b, DefaultArguments())
	a := c.Appendable().Appender(context.Background())
	for i := range 100000 {
		l := labels.FromStrings("__name__", "metric_"+strconv.Itoa(i%100), "instance", "node-"+strconv.Itoa(i/100)+":9100", "job", "node")
		_, _ = a.Append(0, l, now, float64(i))
	}
	require.NoError(b, a.Commit())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// appendWithMetadata appends the samples and, for each metric name in meta, reports its
// metadata with the first series of that name, as a scrape does, in one transaction.
func appendWithMetadata(t testing.TB, app storage.Appendable, meta map[string]metadata.Metadata, samples ...in) {
	t.Helper()
	a := app.Appender(context.Background())
	for _, s := range samples {
		ref, err := a.Append(0, s.lset, s.t, s.v)
		require.NoError(t, err)
		if m, ok := meta[s.lset.Get("__name__")]; ok {
			_, err = a.UpdateMetadata(ref, s.lset, m)
			require.NoError(t, err)
		}
	}
	require.NoError(t, a.Commit())
}

// TestMetadataExposition: what a scrape reports of a family's type, help and unit is
// served with its samples — a classic histogram and a summary as one family again — and
// what makes no complete family stays untyped rather than being invented.
func TestMetadataExposition(t *testing.T) {
	c, _ := newSink(t, DefaultArguments())
	hist := metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Request latency.", Unit: "seconds"}
	summ := metadata.Metadata{Type: model.MetricTypeSummary, Help: "GC pauses."}
	meta := map[string]metadata.Metadata{
		"http_requests_total":              {Type: model.MetricTypeCounter, Help: "Requests served.\nBy code."},
		"node_load1":                       {Type: model.MetricTypeGauge, Help: "1m load average."},
		"request_duration_seconds_bucket":  hist,
		"request_duration_seconds_sum":     hist,
		"request_duration_seconds_count":   hist,
		"go_gc_duration_seconds":           summ,
		"go_gc_duration_seconds_sum":       summ,
		"go_gc_duration_seconds_count":     summ,
		"build_info":                       {Type: model.MetricTypeUnknown, Help: "Build."},
		"queue_bytes":                      {Type: model.MetricTypeGauge, Help: "Queue size.", Unit: "bytes"},
		"temperature_celsius":              {Type: model.MetricTypeGauge, Unit: "kelvin"}, // not the name's unit: no UNIT line
		"broken_seconds_bucket":            hist,                                          // no +Inf bucket, no _count
		"broken_seconds_sum":               hist,
		"request_duration_seconds_created": hist, // not a part of a classic histogram
	}
	ls := labels.FromStrings
	appendWithMetadata(t, c.Appendable(), meta,
		in{ls("__name__", "http_requests_total", "code", "200"), now, 1027},
		in{ls("__name__", "http_requests_total", "code", "500"), now, 3},
		in{ls("__name__", "node_load1"), now - 15000, 0.21},
		in{ls("__name__", "request_duration_seconds_bucket", "path", "/", "le", "0.1"), now, 3},
		in{ls("__name__", "request_duration_seconds_bucket", "path", "/", "le", "1"), now, 4},
		in{ls("__name__", "request_duration_seconds_bucket", "path", "/", "le", "+Inf"), now, 5},
		in{ls("__name__", "request_duration_seconds_sum", "path", "/"), now, 2.5},
		in{ls("__name__", "request_duration_seconds_count", "path", "/"), now, 5},
		in{ls("__name__", "request_duration_seconds_created", "path", "/"), now, 1.7e9},
		in{ls("__name__", "go_gc_duration_seconds", "quantile", "0.5"), now, 0.001},
		in{ls("__name__", "go_gc_duration_seconds", "quantile", "1"), now, 0.004},
		in{ls("__name__", "go_gc_duration_seconds_sum"), now, 0.5},
		in{ls("__name__", "go_gc_duration_seconds_count"), now, 200},
		in{ls("__name__", "build_info", "version", "1.0"), now, 1},
		in{ls("__name__", "queue_bytes"), now, 4096},
		in{ls("__name__", "temperature_celsius"), now, 21.5},
		in{ls("__name__", "broken_seconds_bucket", "le", "1"), now, 1},
		in{ls("__name__", "broken_seconds_sum"), now, 0.3},
		in{ls("__name__", "no_metadata"), now, 7},
	)

	for _, tc := range []struct {
		name, accept, golden string
	}{
		{"text", "", "metadata.prom"},
		{"openmetrics", "application/openmetrics-text;version=1.0.0", "metadata.om"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, c, http.Header{"Accept": {tc.accept}})
			require.Equal(t, http.StatusOK, code)
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				require.NoError(t, os.WriteFile(golden, body, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), string(body))

			// Prometheus' own parser, as a Prometheus scraping sonde uses it, takes it all.
			ct := "text/plain; version=0.0.4"
			if tc.accept != "" {
				ct = tc.accept
			}
			p, err := textparse.New(body, ct, labels.NewSymbolTable(), textparse.ParserOptions{})
			require.NoError(t, err)
			n := 0
			for {
				e, err := p.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				if e == textparse.EntrySeries {
					n++
				}
			}
			require.Equal(t, 19, n, "every series")
		})
	}

	// The text output parses back with the types, help and values that were appended.
	_, _, body := get(t, c, nil)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, dto.MetricType_COUNTER, fams["http_requests_total"].GetType())
	require.Equal(t, "Requests served.\nBy code.", fams["http_requests_total"].GetHelp())
	require.Equal(t, dto.MetricType_GAUGE, fams["node_load1"].GetType())
	h := fams["request_duration_seconds"]
	require.Equal(t, dto.MetricType_HISTOGRAM, h.GetType())
	require.Equal(t, uint64(5), h.GetMetric()[0].GetHistogram().GetSampleCount())
	require.Len(t, h.GetMetric()[0].GetHistogram().GetBucket(), 3)
	require.Equal(t, now, h.GetMetric()[0].GetTimestampMs())
	require.Equal(t, dto.MetricType_SUMMARY, fams["go_gc_duration_seconds"].GetType())
	require.Equal(t, uint64(200), fams["go_gc_duration_seconds"].GetMetric()[0].GetSummary().GetSampleCount())
	require.Equal(t, dto.MetricType_UNTYPED, fams["broken_seconds_bucket"].GetType())
	require.NotContains(t, fams, "broken_seconds")
	require.Equal(t, dto.MetricType_UNTYPED, fams["no_metadata"].GetType())

	// A failed scrape marks every series stale, and the next one reports no metadata for
	// series its cache still holds: the metadata outlives the series for stale_after.
	appendAll(t, c.Appendable(), in{ls("__name__", "queue_bytes"), now + 1000, math.Float64frombits(value.StaleNaN)})
	_, _, body = get(t, c, nil)
	require.NotContains(t, string(body), "queue_bytes")
	appendAll(t, c.Appendable(), in{ls("__name__", "queue_bytes"), now + 2000, 1})
	_, _, body = get(t, c, nil)
	require.Contains(t, string(body), "# TYPE queue_bytes gauge\n")
	appendAll(t, c.Appendable(), in{ls("__name__", "queue_bytes"), now + 3000, math.Float64frombits(value.StaleNaN)})
	c.store.expire(time.Now().Add(time.Minute).UnixMilli())
	_, snapMeta := c.store.snapshot(0)
	require.NotContains(t, snapMeta, "queue_bytes", "forgotten stale_after after its last series")
}

// TestMetadataOfRefusedSeriesNotKept: metadata is kept only for names with series, so it
// is bounded by max_series too.
func TestMetadataOfRefusedSeriesNotKept(t *testing.T) {
	c, _ := newSink(t, &Arguments{MaxSeries: 1, StaleAfter: model.Duration(time.Minute)})
	g := metadata.Metadata{Type: model.MetricTypeGauge, Help: "g"}
	appendWithMetadata(t, c.Appendable(), map[string]metadata.Metadata{"a": g, "b": g},
		in{labels.FromStrings("__name__", "a"), now, 1}, in{labels.FromStrings("__name__", "b"), now, 1})
	_, meta := c.store.snapshot(0)
	require.Equal(t, map[string]metadata.Metadata{"a": g}, meta)
}
