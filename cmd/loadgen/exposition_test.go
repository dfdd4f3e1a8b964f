package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/backendtest"
)

func TestAllocate(t *testing.T) {
	for _, m := range []int{1, 2, 13, 14, 47, 100, 1000, 1001, 25_000} {
		t.Run(strconv.Itoa(m), func(t *testing.T) {
			counts := allocate(familySpecs, m)
			sum := 0
			for i, c := range counts {
				require.GreaterOrEqual(t, c, 0)
				if familySpecs[i].kind == histogram {
					require.Zero(t, c%histogramSeries, "whole histogram instances only")
				}
				sum += c
			}
			require.Equal(t, m, sum)
		})
	}
}

// scrape fetches and parses one exposition: series key (name + labels) -> value.
func scrape(t *testing.T, url string) (map[string]float64, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, body, err := backendtest.DoResponse(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, contentType, resp.Header.Get("Content-Type"))
	require.Equal(t, resp.ContentLength, int64(len(body)))

	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	series := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			key := name + labelString(m.Label)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				series[key] = m.Counter.GetValue()
			case dto.MetricType_GAUGE:
				series[key] = m.Gauge.GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.Histogram
				for _, b := range h.Bucket {
					series[key+`le=`+strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] = float64(b.GetCumulativeCount())
				}
				series[key+"_sum"] = h.GetSampleSum()
				series[key+"_count"] = float64(h.GetSampleCount())
			default:
				t.Fatalf("unexpected type %s", f.GetType())
			}
		}
	}
	return series, fams
}

func labelString(ls []*dto.LabelPair) string {
	var b strings.Builder
	b.WriteByte('{')
	for _, l := range ls {
		b.WriteString(l.GetName() + "=" + l.GetValue() + ",")
	}
	b.WriteByte('}')
	return b.String()
}

func TestTargetExposition(t *testing.T) {
	for _, tc := range []struct {
		series     int
		histograms bool
	}{
		{series: 1},
		{series: 14},
		{series: 100, histograms: true},
		{series: 1000, histograms: true},
	} {
		t.Run(strconv.Itoa(tc.series), func(t *testing.T) {
			srv := httptest.NewServer(newTarget(tc.series, 7))
			defer srv.Close()

			first, fams := scrape(t, srv.URL)
			// The text parser folds a histogram's 14 lines into one metric; count lines.
			require.Len(t, first, tc.series, "exactly the requested series")
			_, hasHist := fams["http_request_duration_seconds"]
			require.Equal(t, tc.histograms, hasHist)

			second, fams := scrape(t, srv.URL)
			require.Len(t, second, tc.series)
			changedGauges := 0
			for key, v := range second {
				prev, ok := first[key]
				require.True(t, ok, "label sets are stable across scrapes: %s", key)
				switch {
				case strings.HasPrefix(key, "http_requests_total"), strings.HasPrefix(key, "rpc_client_calls_total"):
					require.Greater(t, v, prev, "counters advance every scrape: %s", key)
				case strings.HasPrefix(key, "http_request_duration_seconds"):
					require.GreaterOrEqual(t, v, prev, "histogram series never decrease: %s", key)
				default:
					require.GreaterOrEqual(t, v, 0.0, key)
					if v != prev {
						changedGauges++
					}
				}
			}
			if tc.series >= 100 {
				require.Positive(t, changedGauges, "gauges move")
			}
			if f, ok := fams["http_request_duration_seconds"]; ok {
				for _, m := range f.Metric {
					h := m.Histogram
					prev := uint64(0)
					for _, b := range h.Bucket {
						require.GreaterOrEqual(t, b.GetCumulativeCount(), prev, "buckets are cumulative")
						prev = b.GetCumulativeCount()
					}
					require.Equal(t, h.GetSampleCount(), prev, "+Inf bucket equals count")
				}
			}
		})
	}
}

func TestTargetMethods(t *testing.T) {
	tgt := newTarget(10, 1)
	for _, tc := range []struct {
		method string
		code   int
		body   bool
	}{
		{http.MethodGet, http.StatusOK, true},
		{http.MethodHead, http.StatusOK, false},
		{http.MethodPost, http.StatusMethodNotAllowed, false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tgt.ServeHTTP(rec, httptest.NewRequest(tc.method, "/metrics", nil))
			require.Equal(t, tc.code, rec.Code)
			if tc.body {
				require.Contains(t, rec.Body.String(), "# TYPE cache_size_bytes gauge\n")
			}
		})
	}
}

func TestAppendValue(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{123456789, "123456789"},
		{1.5, "1.5"},
		{1e20, "1e+20"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			require.Equal(t, tc.want, string(appendValue(nil, tc.in)))
		})
	}
}

// BenchmarkTargetScrape is the load generator's cost per scrape of a 1000-series target.
func BenchmarkTargetScrape(b *testing.B) {
	tgt := newTarget(1000, 1)
	b.ReportAllocs()
	for b.Loop() {
		tgt.advance()
		tgt.buf = tgt.render(tgt.buf[:0])
	}
	b.SetBytes(int64(len(tgt.buf)))
}
