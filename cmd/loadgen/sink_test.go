package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for the sink's elapsed time and lag.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func writeRequest(ts int64, series ...string) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for i, name := range series {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: name}, {Name: "instance", Value: "a:1"}},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: ts}},
		})
	}
	return req
}

func encode(t testing.TB, req *prompb.WriteRequest) []byte {
	t.Helper()
	data, err := req.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, data)
}

func post(t *testing.T, h http.Handler, path string, body []byte, headers map[string]string) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Code
}

func getStats(t *testing.T, h http.Handler) Stats {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var st Stats
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	return st
}

var rw1 = map[string]string{
	"Content-Encoding":                  "snappy",
	"Content-Type":                      "application/x-protobuf",
	"X-Prometheus-Remote-Write-Version": "0.1.0",
}

func TestSinkRequests(t *testing.T) {
	start := time.UnixMilli(1_700_000_000_000)
	valid := encode(t, writeRequest(start.UnixMilli(), "a", "b", "c"))
	for _, tc := range []struct {
		name     string
		path     string
		body     []byte
		headers  map[string]string
		code     int
		samples  uint64
		rejected uint64
	}{
		{name: "remote write 1.0", path: "/api/v1/write", body: valid, headers: rw1, code: http.StatusNoContent, samples: 3},
		{name: "push path", path: "/api/v1/push", body: valid, headers: rw1, code: http.StatusNoContent, samples: 3},
		{name: "zstd (VictoriaMetrics protocol)", path: "/api/v1/write", body: valid,
			headers: map[string]string{"Content-Encoding": "zstd"}, code: http.StatusUnsupportedMediaType, rejected: 1},
		{name: "remote write 2.0", path: "/api/v1/write", body: valid,
			headers: map[string]string{"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
			code:    http.StatusUnsupportedMediaType, rejected: 1},
		{name: "not snappy", path: "/api/v1/write", body: []byte("\xff\xff\xff\xff\xffgarbage"), headers: rw1, code: http.StatusBadRequest, rejected: 1},
		{name: "not protobuf", path: "/api/v1/write", body: snappy.Encode(nil, []byte("\x0a\xff\xff")), headers: rw1, code: http.StatusBadRequest, rejected: 1},
		{name: "too large", path: "/api/v1/write", body: make([]byte, 2048), headers: rw1, code: http.StatusRequestEntityTooLarge, rejected: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: start}
			h := newSink(1024, clock.now).handler()
			clock.t = start.Add(2 * time.Second)
			require.Equal(t, tc.code, post(t, h, tc.path, tc.body, tc.headers))
			st := getStats(t, h)
			require.Equal(t, tc.samples, st.Samples)
			require.Equal(t, tc.rejected, st.Rejected)
			if tc.samples > 0 {
				require.Equal(t, uint64(1), st.Requests)
				require.Equal(t, uint64(len(tc.body)), st.Bytes)
				require.Equal(t, 3, st.Series)
				require.InDelta(t, 2.0, st.LagMeanSeconds, 1e-9)
				require.InDelta(t, 2.0, st.LagMaxSeconds, 1e-9)
				require.InDelta(t, 1.5, st.SamplesPerSecond, 1e-9, "3 samples in 2s")
			}
		})
	}
}

func TestSinkSeriesAndReset(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_000_000)}
	h := newSink(1<<20, clock.now).handler()

	require.Equal(t, http.StatusNoContent, post(t, h, "/api/v1/write", encode(t, writeRequest(1_000_000, "a", "b")), rw1))
	require.Equal(t, http.StatusNoContent, post(t, h, "/api/v1/write", encode(t, writeRequest(1_010_000, "a", "b", "c")), rw1))
	st := getStats(t, h)
	require.Equal(t, 3, st.Series, "distinct series")
	require.Equal(t, uint64(5), st.Samples)
	require.Zero(t, st.OutOfOrder)

	// A resend of the first request: every sample is not newer than what was seen.
	require.Equal(t, http.StatusNoContent, post(t, h, "/api/v1/write", encode(t, writeRequest(1_000_000, "a", "b")), rw1))
	stale := writeRequest(1_020_000, "c")
	stale.Timeseries[0].Samples[0].Value = math.Float64frombits(value.StaleNaN)
	require.Equal(t, http.StatusNoContent, post(t, h, "/api/v1/write", encode(t, stale), rw1))
	st = getStats(t, h)
	require.Equal(t, uint64(2), st.OutOfOrder)
	require.Equal(t, uint64(1), st.StaleMarkers)
	require.Equal(t, uint64(4), st.Requests)

	require.Equal(t, http.StatusNoContent, post(t, h, "/reset", nil, nil))
	require.Equal(t, Stats{}, getStats(t, h))
}

// BenchmarkSinkWrite is the sink's cost per request of 2000 samples (a typical batch).
func BenchmarkSinkWrite(b *testing.B) {
	req := &prompb.WriteRequest{}
	for i := range 2000 {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{
				{Name: "__name__", Value: "http_requests_total"}, {Name: "code", Value: "200"},
				{Name: "handler", Value: "/api/v1/resource" + string(rune('a'+i%26))}, {Name: "instance", Value: "127.0.0.1:20000"},
				{Name: "job", Value: "loadgen"}, {Name: "method", Value: "GET"},
			},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: int64(i)}},
		})
	}
	body := encode(b, req)
	h := newSink(64<<20, time.Now).handler()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(body))
		for k, v := range rw1 {
			r.Header.Set(k, v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}
