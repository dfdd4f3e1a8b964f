package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

const (
	protoAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	omAccept    = "application/openmetrics-text;version=1.0.0"
)

// testHistogram is an integer native histogram with positive, negative and zero buckets.
func testHistogram() *histogram.Histogram {
	return &histogram.Histogram{
		Schema: 0, ZeroThreshold: 0.001, ZeroCount: 1, Count: 6, Sum: 12.5,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}, {Offset: 1, Length: 1}},
		PositiveBuckets: []int64{1, 1, -1}, // 1, 2, 1
		NegativeSpans:   []histogram.Span{{Offset: 0, Length: 1}},
		NegativeBuckets: []int64{1},
	}
}

// testGaugeHistogram is a float gauge histogram.
func testGaugeHistogram() *histogram.FloatHistogram {
	return &histogram.FloatHistogram{
		CounterResetHint: histogram.GaugeType,
		Schema:           1, ZeroThreshold: 0.01, ZeroCount: 0.5, Count: 3.5, Sum: 7,
		PositiveSpans:   []histogram.Span{{Offset: -1, Length: 2}},
		PositiveBuckets: []float64{1, 2},
	}
}

// parsed is what Prometheus' parser reads from an exposition, by series (labels.String()).
type parsed struct {
	floats    map[string]float64
	hists     map[string]*histogram.Histogram
	fhists    map[string]*histogram.FloatHistogram
	exemplars map[string][]exemplar.Exemplar
	types     map[string]model.MetricType
	series    []struct {
		lset labels.Labels
		v    float64
	}
}

// parse reads body with Prometheus' own parser for contentType, keeping classic series of
// histograms that have native ones too (always_scrape_classic_histograms).
func parse(t *testing.T, body []byte, contentType string) parsed {
	t.Helper()
	p, err := textparse.New(body, contentType, labels.NewSymbolTable(), textparse.ParserOptions{KeepClassicOnClassicAndNativeHistograms: true})
	require.NoError(t, err)
	out := parsed{
		floats: map[string]float64{}, hists: map[string]*histogram.Histogram{},
		fhists: map[string]*histogram.FloatHistogram{}, exemplars: map[string][]exemplar.Exemplar{},
		types: map[string]model.MetricType{},
	}
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		var lset labels.Labels
		switch e {
		case textparse.EntryType:
			name, typ := p.Type()
			out.types[string(name)] = typ
			continue
		case textparse.EntrySeries:
			_, _, v := p.Series()
			p.Labels(&lset)
			out.floats[lset.String()] = v
			out.series = append(out.series, struct {
				lset labels.Labels
				v    float64
			}{lset, v})
		case textparse.EntryHistogram:
			_, _, h, fh := p.Histogram()
			p.Labels(&lset)
			if h != nil {
				out.hists[lset.String()] = h
			} else {
				out.fhists[lset.String()] = fh
			}
		default:
			continue
		}
		for {
			var ex exemplar.Exemplar
			if !p.Exemplar(&ex) {
				break
			}
			out.exemplars[lset.String()] = append(out.exemplars[lset.String()], ex)
		}
	}
}

type appenderT = storage.Appender

// bucket returns the value of the classic bucket of name with labels job="a" and le (as a
// number, whatever its spelling); NaN when there is none.
func (p parsed) bucket(name string, le float64) float64 {
	for _, s := range p.series {
		b, err := strconv.ParseFloat(s.lset.Get("le"), 64)
		if s.lset.Get("__name__") == name+"_bucket" && err == nil && b == le {
			return s.v
		}
	}
	return math.NaN()
}

// exemplarsOfBucket returns the exemplars of a classic bucket as bucket finds it.
func (p parsed) exemplarsOfBucket(name string, le float64) []exemplar.Exemplar {
	for _, s := range p.series {
		b, err := strconv.ParseFloat(s.lset.Get("le"), 64)
		if s.lset.Get("__name__") == name+"_bucket" && err == nil && b == le {
			return p.exemplars[s.lset.String()]
		}
	}
	return nil
}

func exemplarOfTrace(id string, v float64, ts int64) exemplar.Exemplar {
	return exemplar.Exemplar{Labels: labels.FromStrings("trace_id", id), Value: v, Ts: ts, HasTs: ts != 0}
}

// TestNativeHistogramsAndExemplars: native histograms and exemplars appended to the sink are
// served in protobuf (both) and OpenMetrics (exemplars), and read back by Prometheus' own
// parsers as they were appended; the text formats leave native histograms out and count
// them.
func TestNativeHistogramsAndExemplars(t *testing.T) {
	c, reg := newSink(t, DefaultArguments())
	a := c.Appendable().Appender(context.Background())
	lat := labels.FromStrings("__name__", "latency_seconds", "job", "a")
	bucket1 := labels.FromStrings("__name__", "latency_seconds_bucket", "job", "a", "le", "1")
	queue := labels.FromStrings("__name__", "queue_depth", "job", "a")
	reqs := labels.FromStrings("__name__", "requests_total", "job", "a")
	temp := labels.FromStrings("__name__", "temperature", "job", "a")
	ref, err := a.AppendHistogram(0, lat, now, testHistogram(), nil)
	require.NoError(t, err)
	_, err = a.AppendExemplar(ref, lat, exemplarOfTrace("n1", 0.3, now-10))
	require.NoError(t, err)
	_, err = a.UpdateMetadata(ref, lat, metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Latency.", Unit: "seconds"})
	require.NoError(t, err)
	// The classic series of the same histogram, as always_scrape_classic_histograms keeps them.
	for _, s := range []in{
		{bucket1, now, 4},
		{labels.FromStrings("__name__", "latency_seconds_bucket", "job", "a", "le", "+Inf"), now, 6},
		{labels.FromStrings("__name__", "latency_seconds_sum", "job", "a"), now, 12.5},
		{labels.FromStrings("__name__", "latency_seconds_count", "job", "a"), now, 6},
	} {
		ref, err := a.Append(0, s.lset, s.t, s.v)
		require.NoError(t, err)
		_, err = a.UpdateMetadata(ref, s.lset, metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Latency.", Unit: "seconds"})
		require.NoError(t, err)
		if labels.Equal(s.lset, bucket1) {
			_, err = a.AppendExemplar(ref, s.lset, exemplarOfTrace("b1", 0.7, now-20))
			require.NoError(t, err)
		}
	}
	ref, err = a.AppendHistogram(0, queue, now, nil, testGaugeHistogram())
	require.NoError(t, err)
	_, err = a.UpdateMetadata(ref, queue, metadata.Metadata{Type: model.MetricTypeGaugeHistogram, Help: "Queue depth."})
	require.NoError(t, err)
	ref, err = a.Append(0, reqs, now, 5)
	require.NoError(t, err)
	_, err = a.UpdateMetadata(ref, reqs, metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests."})
	require.NoError(t, err)
	_, err = a.AppendExemplar(ref, reqs, exemplarOfTrace("c1", 1, 0)) // no timestamp
	require.NoError(t, err)
	ref, err = a.Append(0, temp, now, 21)
	require.NoError(t, err)
	_, err = a.AppendExemplar(ref, temp, exemplarOfTrace("g1", 21, now)) // gauges have none to serve
	require.NoError(t, err)
	require.NoError(t, a.Commit())
	require.Equal(t, 8.0, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_series"))
	require.Equal(t, 8.0, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_samples_received_total"))
	require.Equal(t, 4.0, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_exemplars_received_total"))
	dropped := func() float64 {
		return pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_samples_dropped_total", "reason", "native_histogram")
	}

	t.Run("protobuf", func(t *testing.T) {
		code, header, body := get(t, c, http.Header{"Accept": {protoAccept}})
		require.Equal(t, http.StatusOK, code)
		got := parse(t, body, header.Get("Content-Type"))
		require.Equal(t, testHistogram(), got.hists[lat.String()])
		require.True(t, testGaugeHistogram().Equals(got.fhists[queue.String()]), "%v", got.fhists[queue.String()])
		require.Equal(t, 4.0, got.bucket("latency_seconds", 1), "classic buckets served with the native ones")
		require.Equal(t, 5.0, got.floats[reqs.String()])
		require.Equal(t, []exemplar.Exemplar{exemplarOfTrace("n1", 0.3, now-10)}, got.exemplars[lat.String()])
		require.Equal(t, []exemplar.Exemplar{exemplarOfTrace("b1", 0.7, now-20)}, got.exemplarsOfBucket("latency_seconds", 1))
		require.Equal(t, []exemplar.Exemplar{exemplarOfTrace("c1", 1, 0)}, got.exemplars[reqs.String()])
		require.Empty(t, got.exemplars[temp.String()])
		require.Equal(t, model.MetricTypeHistogram, got.types["latency_seconds"])
		require.Equal(t, model.MetricTypeGaugeHistogram, got.types["queue_depth"])

		// One family per histogram, with its help and unit, classic and native buckets in
		// one metric as client_golang serves them.
		dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
		fams := map[string]*dto.MetricFamily{}
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); errors.Is(err, io.EOF) {
				break
			} else {
				require.NoError(t, err)
			}
			require.NotContains(t, fams, mf.GetName(), "one family per name")
			fams[mf.GetName()] = &mf
		}
		require.Len(t, fams, 4)
		h := fams["latency_seconds"]
		require.Equal(t, "Latency.", h.GetHelp())
		require.Equal(t, "seconds", h.GetUnit())
		require.Len(t, h.GetMetric(), 1)
		require.Len(t, h.GetMetric()[0].GetHistogram().GetBucket(), 2)
		require.Len(t, h.GetMetric()[0].GetHistogram().GetPositiveSpan(), 2)
		require.Equal(t, "Queue depth.", fams["queue_depth"].GetHelp())
		require.Zero(t, dropped())
	})
	t.Run("openmetrics", func(t *testing.T) {
		code, header, body := get(t, c, http.Header{"Accept": {omAccept}})
		require.Equal(t, http.StatusOK, code)
		got := parse(t, body, header.Get("Content-Type"))
		require.Empty(t, got.hists)
		require.Empty(t, got.fhists)
		require.Equal(t, []exemplar.Exemplar{exemplarOfTrace("b1", 0.7, now-20)}, got.exemplarsOfBucket("latency_seconds", 1))
		require.Equal(t, []exemplar.Exemplar{exemplarOfTrace("c1", 1, 0)}, got.exemplars[reqs.String()])
		require.Contains(t, string(body), `requests_total{job="a"} 5.0 1.7e+09 # {trace_id="c1"} 1.0`+"\n")
		require.Equal(t, 2.0, dropped(), "both native histograms left out")
	})
	t.Run("text", func(t *testing.T) {
		code, _, body := get(t, c, nil)
		require.Equal(t, http.StatusOK, code)
		got := parse(t, body, "text/plain; version=0.0.4")
		require.Empty(t, got.hists)
		require.Empty(t, got.exemplars)
		require.Equal(t, 4.0, got.bucket("latency_seconds", 1))
		require.NotContains(t, string(body), "queue_depth")
		require.Equal(t, 4.0, dropped())
	})
}

// TestNativeHistogramStore: native histograms and exemplars follow the store's rules for
// samples (staleness markers, max_series, out of order); a series holds whichever of a float
// or a histogram came last, and the latest exemplar.
func TestNativeHistogramStore(t *testing.T) {
	c, reg := newSink(t, &Arguments{MaxSeries: 2, StaleAfter: DefaultArguments().StaleAfter})
	lat := labels.FromStrings("__name__", "latency_seconds")
	served := func() parsed {
		_, header, body := get(t, c, http.Header{"Accept": {protoAccept}})
		return parse(t, body, header.Get("Content-Type"))
	}
	app := func(f func(a appenderT)) {
		a := c.Appendable().Appender(context.Background())
		f(a)
		require.NoError(t, a.Commit())
	}

	// The caller's histogram is copied: changing it after the append changes nothing here.
	h := testHistogram()
	app(func(a appenderT) {
		_, err := a.AppendHistogram(0, lat, now, h, nil)
		require.NoError(t, err)
		h.Count = 1000
	})
	require.Equal(t, testHistogram(), served().hists[lat.String()])

	// Older histograms are refused, newer ones replace.
	older, newer := testHistogram(), testHistogram()
	older.Sum, newer.Sum = 1, 2
	app(func(a appenderT) { _, _ = a.AppendHistogram(0, lat, now-1, older, nil) })
	app(func(a appenderT) { _, _ = a.AppendHistogram(0, lat, now+1, newer, nil) })
	require.Equal(t, 2.0, served().hists[lat.String()].Sum)
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_samples_dropped_total", "reason", "out_of_order"))

	// Exemplars: the latest by timestamp is kept; one for a series not kept is counted.
	app(func(a appenderT) {
		_, _ = a.AppendExemplar(0, lat, exemplarOfTrace("new", 1, now))
		_, _ = a.AppendExemplar(0, lat, exemplarOfTrace("old", 1, now-1))
		_, _ = a.AppendExemplar(0, labels.FromStrings("__name__", "nothing"), exemplarOfTrace("x", 1, now))
	})
	require.Equal(t, []exemplar.Exemplar{exemplarOfTrace("new", 1, now)}, served().exemplars[lat.String()])
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_exemplars_dropped_total", "reason", "no_series"))

	// max_series counts histogram series too.
	app(func(a appenderT) {
		_, _ = a.AppendHistogram(0, labels.FromStrings("__name__", "second"), now, testHistogram(), nil)
		_, _ = a.AppendHistogram(0, labels.FromStrings("__name__", "third"), now, nil, testGaugeHistogram())
	})
	require.Equal(t, 1.0, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_samples_dropped_total", "reason", "max_series"))

	// A float replaces the histogram, keeping the exemplar; a histogram's staleness marker
	// removes the series.
	app(func(a appenderT) { _, _ = a.Append(0, lat, now+2, 7) })
	got := served()
	require.Empty(t, got.hists[lat.String()])
	require.Equal(t, 7.0, got.floats[lat.String()])
	stale := testHistogram()
	stale.Sum = math.Float64frombits(value.StaleNaN)
	app(func(a appenderT) {
		_, _ = a.AppendHistogram(0, lat, now+3, stale, nil)
		_, _ = a.AppendHistogram(0, labels.FromStrings("__name__", "second"), now+3, nil, &histogram.FloatHistogram{Sum: math.Float64frombits(value.StaleNaN)})
	})
	require.Zero(t, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_series"))
	require.Equal(t, 2.0, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_series_removed_total", "reason", "stale_marker"))
}

// TestCustomBucketsServedClassic: a native histogram with custom buckets (NHCB), which the
// exposition formats do not have, is served as the classic histogram it was made from in
// every format, its exemplar on the bucket of its value.
func TestCustomBucketsServedClassic(t *testing.T) {
	c, reg := newSink(t, DefaultArguments())
	lat := labels.FromStrings("__name__", "latency_seconds", "job", "a")
	for _, tc := range []struct {
		name string
		h    *histogram.Histogram
		fh   *histogram.FloatHistogram
		want []float64 // cumulative counts of le 0.1, 1 and +Inf
	}{
		{"integer", &histogram.Histogram{
			Schema: histogram.CustomBucketsSchema, CustomValues: []float64{0.1, 1}, Count: 4, Sum: 2,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 3}}, PositiveBuckets: []int64{1, 1, -1},
		}, nil, []float64{1, 3, 4}},
		{"float", nil, &histogram.FloatHistogram{
			Schema: histogram.CustomBucketsSchema, CustomValues: []float64{0.1, 1}, Count: 4, Sum: 2,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}, {Offset: 1, Length: 1}}, PositiveBuckets: []float64{1, 3},
		}, []float64{1, 1, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := c.Appendable().Appender(context.Background())
			_, err := a.AppendHistogram(0, lat, now, tc.h, tc.fh)
			require.NoError(t, err)
			_, err = a.AppendExemplar(0, lat, exemplarOfTrace("t1", 0.5, now))
			require.NoError(t, err)
			require.NoError(t, a.Commit())
			for _, accept := range []string{"", omAccept, protoAccept} {
				_, header, body := get(t, c, http.Header{"Accept": {accept}})
				got := parse(t, body, header.Get("Content-Type"))
				require.Equal(t, tc.want, []float64{
					got.bucket("latency_seconds", 0.1), got.bucket("latency_seconds", 1), got.bucket("latency_seconds", math.Inf(1)),
				}, "%s\n%s", accept, body)
				require.Equal(t, 4.0, got.floats[labels.FromStrings("__name__", "latency_seconds_count", "job", "a").String()], accept)
				require.Equal(t, 2.0, got.floats[labels.FromStrings("__name__", "latency_seconds_sum", "job", "a").String()], accept)
				require.Empty(t, got.hists, accept)
				require.Empty(t, got.fhists, accept)
				if accept != "" {
					require.Equal(t, []exemplar.Exemplar{exemplarOfTrace("t1", 0.5, now)}, got.exemplarsOfBucket("latency_seconds", 1), accept)
				}
			}
			require.Zero(t, pipelinetest.MetricValue(t, reg, "sonde_prometheus_serve_samples_dropped_total", "reason", "native_histogram"))
		})
	}
}

// BenchmarkExpositionNativeHistograms serves 10000 native histograms, each with an exemplar,
// in the protobuf format.
func BenchmarkExpositionNativeHistograms(b *testing.B) {
	c, _ := newSink(b, DefaultArguments())
	a := c.Appendable().Appender(context.Background())
	for i := range 10000 {
		l := labels.FromStrings("__name__", "latency_seconds_"+strconv.Itoa(i%100), "instance", "node-"+strconv.Itoa(i/100)+":9100", "job", "app")
		ref, _ := a.AppendHistogram(0, l, now, testHistogram(), nil)
		_, _ = a.AppendExemplar(ref, l, exemplarOfTrace(strconv.Itoa(i), 0.3, now))
	}
	require.NoError(b, a.Commit())
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", protoAccept)
		c.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// TestConcurrentNativeHistograms: appenders replacing histograms and exemplars while
// expositions read them (run with -race).
func TestConcurrentNativeHistograms(t *testing.T) {
	c, _ := newSink(t, DefaultArguments())
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for round := range 50 {
				app := c.Appendable().Appender(context.Background())
				for i := range 50 {
					// One histogram per family: Prometheus 3.16's protobuf parser reads
					// the exemplars of the first native histogram of a family only (it
					// does not reset its exemplar position between them).
					l := labels.FromStrings("__name__", "h_"+strconv.Itoa(w)+"_"+strconv.Itoa(i))
					h := testHistogram()
					h.Sum = float64(round)
					ref, _ := app.AppendHistogram(0, l, now+int64(round), h, nil)
					_, _ = app.AppendExemplar(ref, l, exemplarOfTrace(strconv.Itoa(round), 1, now+int64(round)))
				}
				_ = app.Commit()
			}
		})
	}
	for range 20 { // in the test's goroutine, where require may stop it
		_, header, body := get(t, c, http.Header{"Accept": {protoAccept}})
		got := parse(t, body, header.Get("Content-Type"))
		for k, h := range got.hists {
			// Each histogram is whole: its sum and its exemplar from the same round.
			require.Len(t, got.exemplars[k], 1, k)
			require.Equal(t, strconv.Itoa(int(h.Sum)), got.exemplars[k][0].Labels.Get("trace_id"))
		}
	}
	wg.Wait()
	require.Equal(t, 100, c.store.len())
}

// TestNativeHistogramExemplarsPerSeries: each native histogram of a family carries its own
// exemplar in the protobuf exposition (read with client_model's decoder: Prometheus 3.16's
// parser reads the first one's only).
func TestNativeHistogramExemplarsPerSeries(t *testing.T) {
	c, _ := newSink(t, DefaultArguments())
	a := c.Appendable().Appender(context.Background())
	for _, id := range []string{"a", "b", "c"} {
		l := labels.FromStrings("__name__", "latency_seconds", "route", id)
		ref, err := a.AppendHistogram(0, l, now, testHistogram(), nil)
		require.NoError(t, err)
		_, err = a.AppendExemplar(ref, l, exemplarOfTrace(id, 0.3, now))
		require.NoError(t, err)
	}
	require.NoError(t, a.Commit())
	_, _, body := get(t, c, http.Header{"Accept": {protoAccept}})
	var mf dto.MetricFamily
	require.NoError(t, expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim)).Decode(&mf))
	require.Len(t, mf.GetMetric(), 3)
	for _, m := range mf.GetMetric() {
		exs := m.GetHistogram().GetExemplars()
		require.Len(t, exs, 1)
		require.Equal(t, m.GetLabel()[0].GetValue(), exs[0].GetLabel()[0].GetValue())
		require.Equal(t, now, exs[0].GetTimestamp().AsTime().UnixMilli())
	}
}
