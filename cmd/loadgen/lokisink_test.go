package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
)

func pushRequest(ts time.Time, streams ...string) *push.PushRequest {
	req := &push.PushRequest{}
	for _, s := range streams {
		req.Streams = append(req.Streams, push.Stream{Labels: s, Entries: []push.Entry{
			{Timestamp: ts, Line: "first line"},
			{Timestamp: ts.Add(time.Millisecond), Line: "second", StructuredMetadata: push.LabelsAdapter{{Name: "uid", Value: "u1"}}},
		}})
	}
	return req
}

func encodePush(t testing.TB, req *push.PushRequest) []byte {
	t.Helper()
	data, err := req.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, data)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func getLokiStats(t *testing.T, h http.Handler) LokiStats {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var st LokiStats
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	return st
}

var (
	protoHeaders = map[string]string{"Content-Type": "application/x-protobuf"}
	jsonHeaders  = map[string]string{"Content-Type": "application/json"}
	gzipHeaders  = map[string]string{"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"}
)

func TestLokiSinkRequests(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	valid := encodePush(t, pushRequest(start, `{app="a"}`, `{app="b"}`))
	jsonBody := []byte(`{"streams":[
		{"stream":{"app":"a"},"values":[["1700000000000000000","first line"],["1700000000001000000","second",{"uid":"u1"}]]},
		{"stream":{"app":"b"},"values":[["1700000000000000000","first line"],["1700000000001000000","second",{"uid":"u1"}]]}]}`)
	for _, tc := range []struct {
		name     string
		path     string
		body     []byte
		headers  map[string]string
		code     int
		entries  uint64
		rejected uint64
	}{
		{name: "protobuf", path: "/loki/api/v1/push", body: valid, headers: protoHeaders, code: http.StatusNoContent, entries: 4},
		{name: "protobuf, legacy path", path: "/api/prom/push", body: valid, headers: protoHeaders, code: http.StatusNoContent, entries: 4},
		{name: "protobuf, no content type", path: "/loki/api/v1/push", body: valid, code: http.StatusNoContent, entries: 4},
		{name: "JSON", path: "/loki/api/v1/push", body: jsonBody, headers: jsonHeaders, code: http.StatusNoContent, entries: 4},
		{name: "gzipped JSON", path: "/loki/api/v1/push", body: gzipped(t, jsonBody), headers: gzipHeaders, code: http.StatusNoContent, entries: 4},
		{name: "not snappy", path: "/loki/api/v1/push", body: []byte("\xff\xff\xff\xff\xffgarbage"), headers: protoHeaders, code: http.StatusBadRequest, rejected: 1},
		{name: "not protobuf", path: "/loki/api/v1/push", body: snappy.Encode(nil, []byte("\x0a\xff\xff")), headers: protoHeaders, code: http.StatusBadRequest, rejected: 1},
		{name: "not JSON", path: "/loki/api/v1/push", body: []byte("{"), headers: jsonHeaders, code: http.StatusBadRequest, rejected: 1},
		{name: "JSON timestamp not a number", path: "/loki/api/v1/push", body: []byte(`{"streams":[{"stream":{"a":"b"},"values":[["soon","x"]]}]}`), headers: jsonHeaders, code: http.StatusBadRequest, rejected: 1},
		{name: "JSON value too short", path: "/loki/api/v1/push", body: []byte(`{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}`), headers: jsonHeaders, code: http.StatusBadRequest, rejected: 1},
		{name: "not gzip", path: "/loki/api/v1/push", body: jsonBody, headers: gzipHeaders, code: http.StatusBadRequest, rejected: 1},
		{name: "too large", path: "/loki/api/v1/push", body: make([]byte, 4096), headers: protoHeaders, code: http.StatusRequestEntityTooLarge, rejected: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: start}
			h := newLokiSink(2048, clock.now).handler()
			clock.t = start.Add(2 * time.Second)
			require.Equal(t, tc.code, post(t, h, tc.path, tc.body, tc.headers))
			st := getLokiStats(t, h)
			require.Equal(t, tc.entries, st.Entries)
			require.Equal(t, tc.rejected, st.Rejected)
			if tc.entries > 0 {
				require.Equal(t, uint64(1), st.Requests)
				require.Equal(t, uint64(len(tc.body)), st.Bytes)
				require.Equal(t, 2, st.Streams)
				require.Equal(t, uint64(2*len("first line")+2*len("second")), st.LineBytes)
				require.Equal(t, uint64(2), st.StructuredMetadata)
				require.Zero(t, st.OutOfOrder)
				require.InDelta(t, 1.9995, st.LagMeanSeconds, 1e-9)
				require.InDelta(t, 2.0, st.LagMaxSeconds, 1e-9)
				require.InDelta(t, 2.0, st.EntriesPerSecond, 1e-9, "4 entries in 2s")
				require.InDelta(t, float64(clock.t.UnixNano())/1e9, st.LastArrivalUnix, 1e-6)
			}
		})
	}
}

// Protobuf and JSON name streams the same way, so one stream sent both ways is one stream.
func TestLokiSinkStreamsAndReset(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_010, 0)}
	h := newLokiSink(1<<20, clock.now).handler()
	t0 := time.Unix(1_700_000_000, 0)

	require.Equal(t, http.StatusNoContent, post(t, h, "/loki/api/v1/push", encodePush(t, pushRequest(t0, `{app="a", pod="p"}`)), protoHeaders))
	require.Equal(t, http.StatusNoContent, post(t, h, "/loki/api/v1/push",
		[]byte(`{"streams":[{"stream":{"pod":"p","app":"a"},"values":[["1700000001000000000","later"]]}]}`), jsonHeaders))
	st := getLokiStats(t, h)
	require.Equal(t, 1, st.Streams)
	require.Equal(t, uint64(3), st.Entries)
	require.Zero(t, st.OutOfOrder)

	// A resend: both entries are not newer than what the stream has.
	require.Equal(t, http.StatusNoContent, post(t, h, "/loki/api/v1/push", encodePush(t, pushRequest(t0, `{app="a", pod="p"}`)), protoHeaders))
	require.Equal(t, uint64(2), getLokiStats(t, h).OutOfOrder)

	require.Equal(t, http.StatusNoContent, post(t, h, "/reset", nil, nil))
	require.Equal(t, LokiStats{}, getLokiStats(t, h))
}

// BenchmarkLokiSinkPush is the sink's cost per request of 5000 entries of 200 bytes (about
// 1 MiB, the agents' batch size), in 10 streams.
func BenchmarkLokiSinkPush(b *testing.B) {
	req := &push.PushRequest{}
	g := newLineGen(1)
	now := time.Now()
	for s := range 10 {
		st := push.Stream{Labels: `{namespace="bench", pod="app-` + string(rune('a'+s)) + `", container="app", stream="stdout"}`}
		for i := range 500 {
			msg, _ := g.next(nil, now)
			st.Entries = append(st.Entries, push.Entry{Timestamp: now.Add(time.Duration(i)), Line: string(msg)})
		}
		req.Streams = append(req.Streams, st)
	}
	body := encodePush(b, req)
	h := newLokiSink(64<<20, time.Now).handler()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/loki/api/v1/push", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-protobuf")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}
