// Package remotewritetest provides a scriptable Prometheus remote-write receiver for tests:
// it decodes snappy-compressed protobuf requests of remote write 1.0 and 2.0 (or only 1.0,
// see OnlyV1), checks them against the specs, records what it accepted and answers what the
// test tells it to (503 a few times, 429 with Retry-After, 400, a partial write, ...).
package remotewritetest

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// WritePath is the path the receiver serves.
const WritePath = "/api/v1/write"

// Sample is one accepted sample.
type Sample struct {
	T int64
	V float64
}

// Response is a scripted answer.
type Response struct {
	Status     int    // HTTP status code
	RetryAfter string // value of the Retry-After header, if not empty
	Body       string // response body
	// Written, when not empty, is the X-Prometheus-Remote-Write-Samples-Written header
	// answered to a 2.0 request instead of the number of samples it carried.
	Written string
}

// The protocols' Content-Type values.
const (
	ContentTypeV1 = "application/x-protobuf"
	ContentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
)

// V1Only says how a receiver that knows only remote write 1.0 treats a 2.0 request.
type V1Only int

const (
	// V1Answers415 refuses it with 415 Unsupported Media Type, as the 2.0 spec asks of a
	// receiver that does not take the message.
	V1Answers415 V1Only = iota + 1
	// V1IgnoresContentType decodes it as a 1.0 request (finding no series in it) and
	// answers 204 without *-Written headers, as Prometheus before 3.0 does.
	V1IgnoresContentType
)

// Request is what the receiver saw of one request.
type Request struct {
	Time    time.Time
	Status  int // the status answered
	Samples int // samples in the request; 0 if it could not be decoded
	// Metadata is the number of metric families' metadata in the request (1.0), or of
	// series with metadata (2.0).
	Metadata int
	Header   http.Header // request headers
	// V2 tells a 2.0 request (Content-Type proto=io.prometheus.write.v2.Request).
	V2 bool
}

// Receiver is a remote-write receiver on an httptest.Server. It is safe for concurrent use.
type Receiver struct {
	// URL is the full write URL (server address + WritePath).
	URL string

	srv *httptest.Server

	mu         sync.Mutex
	script     []Response
	sticky     *Response
	series     map[string][]Sample // by labels in Prometheus text form, e.g. {__name__="up"}
	metadata   map[string]prompb.MetricMetadata
	inline     map[string]metadata.Metadata // 2.0: by series name
	starts     map[string]int64             // 2.0: the latest start timestamp by series
	v1Only     V1Only
	requests   []Request
	problems   []string
	total      int
	duplicates int
	promOrder  bool
	countOnly  bool
}

// CountOnly makes the receiver keep no sample, only their number (SampleCount; Series,
// Duplicates and the timestamp check stay empty): for tests that measure the sender's
// memory, which the samples kept here would swamp.
func (r *Receiver) CountOnly() {
	r.mu.Lock()
	r.countOnly = true
	r.mu.Unlock()
}

// RejectLikePrometheus makes the receiver answer as a Prometheus TSDB does: a request with
// any sample older than the newest one stored for its series is rejected as a whole (400
// "out of order sample"); an identical re-sent newest sample is ignored.
func (r *Receiver) RejectLikePrometheus() {
	r.mu.Lock()
	r.promOrder = true
	r.mu.Unlock()
}

// outOfOrder reports whether wr holds a sample Prometheus would reject. The caller holds r.mu.
func (r *Receiver) outOfOrder(wr prompb.WriteRequest) bool {
	for _, ts := range wr.Timeseries {
		got := r.series[labelsString(ts.Labels)]
		if len(got) == 0 {
			continue
		}
		last := got[len(got)-1]
		for _, s := range ts.Samples {
			if s.Timestamp < last.T || (s.Timestamp == last.T && s.Value != last.V) {
				return true
			}
		}
	}
	return false
}

// NewReceiver starts a receiver that accepts everything (204) until told otherwise. It is
// closed when the test ends.
func NewReceiver(tb testing.TB) *Receiver {
	r := &Receiver{series: map[string][]Sample{}, metadata: map[string]prompb.MetricMetadata{}, inline: map[string]metadata.Metadata{},
		starts: map[string]int64{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	r.URL = r.srv.URL + WritePath
	tb.Cleanup(r.Close)
	return r
}

// OnlyV1 makes the receiver one that knows remote write 1.0 only, treating 2.0 requests
// as how says.
func (r *Receiver) OnlyV1(how V1Only) {
	r.mu.Lock()
	r.v1Only = how
	r.mu.Unlock()
}

// InlineMetadata returns the metadata that 2.0 requests carried inline, the latest by
// metric (series) name.
func (r *Receiver) InlineMetadata() map[string]metadata.Metadata {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]metadata.Metadata, len(r.inline))
	for k, v := range r.inline {
		out[k] = v
	}
	return out
}

// StartTimestamps returns the latest start timestamp that 2.0 requests carried for each
// series (by labels in Prometheus text form); series without one are absent.
func (r *Receiver) StartTimestamps() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.starts)
}

// Close shuts the server down.
func (r *Receiver) Close() { r.srv.Close() }

// Script queues answers for the next requests, one each, before the default.
func (r *Receiver) Script(resps ...Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, resps...)
}

// FailWith answers resp to every request (after any scripted ones) until Recover.
func (r *Receiver) FailWith(resp Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sticky = &resp
}

// Recover undoes FailWith.
func (r *Receiver) Recover() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sticky = nil
}

// SampleCount returns how many samples were accepted, duplicates included.
func (r *Receiver) SampleCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Duplicates returns how many accepted samples repeated the newest timestamp of their series.
func (r *Receiver) Duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.duplicates
}

// Distinct returns how many distinct (series, timestamp) pairs were accepted, and how many
// accepted samples repeat one of them (sent again, whatever came in between).
func (r *Receiver) Distinct() (distinct, repeated int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, samples := range r.series {
		seen := make(map[int64]bool, len(samples))
		for _, s := range samples {
			seen[s.T] = true
		}
		distinct += len(seen)
		repeated += len(samples) - len(seen)
	}
	return distinct, repeated
}

// Series returns a copy of the accepted samples by series (labels in Prometheus text form).
func (r *Receiver) Series() map[string][]Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]Sample, len(r.series))
	for k, v := range r.series {
		out[k] = append([]Sample(nil), v...)
	}
	return out
}

// Metadata returns the metric family metadata accepted, the latest by family name.
func (r *Receiver) Metadata() map[string]prompb.MetricMetadata {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]prompb.MetricMetadata, len(r.metadata))
	for k, v := range r.metadata {
		out[k] = v
	}
	return out
}

// Requests returns every request seen, in order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Problems returns the spec violations seen: wrong method or headers, a body that is not
// snappy block format or not a WriteRequest, unsorted or duplicate labels, and accepted
// timestamps that went back for a series.
func (r *Receiver) Problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.problems...)
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	var problems []string
	check := func(ok bool, format string, a ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, a...))
		}
	}
	r.mu.Lock()
	v1Only := r.v1Only
	r.mu.Unlock()
	v2 := req.Header.Get("Content-Type") == ContentTypeV2
	if v2 && v1Only == V1Answers415 {
		r.mu.Lock()
		r.requests = append(r.requests, Request{Time: time.Now(), Status: http.StatusUnsupportedMediaType, Header: req.Header.Clone(), V2: true})
		r.mu.Unlock()
		http.Error(w, "unsupported Content-Type", http.StatusUnsupportedMediaType)
		return
	}
	decodeV2 := v2 && v1Only == 0
	wantType, wantVersion := ContentTypeV1, "0.1.0"
	if v2 {
		wantType, wantVersion = ContentTypeV2, "2.0.0"
	}
	check(req.Method == http.MethodPost, "method %s, want POST", req.Method)
	check(req.URL.Path == WritePath, "path %s, want %s", req.URL.Path, WritePath)
	check(req.Header.Get("Content-Encoding") == "snappy", "Content-Encoding %q, want snappy", req.Header.Get("Content-Encoding"))
	check(req.Header.Get("Content-Type") == wantType, "Content-Type %q, want %s", req.Header.Get("Content-Type"), wantType)
	check(req.Header.Get("X-Prometheus-Remote-Write-Version") == wantVersion,
		"X-Prometheus-Remote-Write-Version %q, want %s", req.Header.Get("X-Prometheus-Remote-Write-Version"), wantVersion)
	check(req.Header.Get("User-Agent") != "", "no User-Agent")

	var (
		wr     prompb.WriteRequest
		inline map[string]metadata.Metadata
		starts map[string]int64
	)
	decoded := false
	compressed, err := io.ReadAll(req.Body)
	if err != nil {
		// The client gave up mid-request (it was stopped): not a protocol violation.
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if raw, err := snappy.Decode(nil, compressed); err != nil {
		check(false, "body is not snappy block format: %v", err)
	} else if decodeV2 {
		wr, inline, starts, err = fromV2(raw)
		check(err == nil, "body is not a writev2.Request: %v", err)
		decoded = err == nil
	} else if err := wr.Unmarshal(raw); err != nil {
		check(false, "body is not a WriteRequest: %v", err)
	} else {
		decoded = true
	}
	n := 0
	for _, ts := range wr.Timeseries {
		n += len(ts.Samples)
		names := make([]string, len(ts.Labels))
		for i, l := range ts.Labels {
			names[i] = l.Name
		}
		check(sort.StringsAreSorted(names), "labels not sorted: %v", names)
		for i := 1; i < len(names); i++ {
			check(names[i] != names[i-1], "duplicate label %q", names[i])
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	resp := Response{Status: http.StatusNoContent}
	switch {
	case len(problems) > 0 || !decoded:
		resp = Response{Status: http.StatusBadRequest, Body: strings.Join(problems, "; ")}
	case len(r.script) > 0:
		resp, r.script = r.script[0], r.script[1:]
	case r.promOrder && r.outOfOrder(wr):
		resp = Response{Status: http.StatusBadRequest, Body: "out of order sample"}
	case r.sticky != nil:
		resp = *r.sticky
	}
	r.problems = append(r.problems, problems...)
	nMeta := len(wr.Metadata)
	if decodeV2 {
		nMeta = len(inline)
	}
	r.requests = append(r.requests, Request{Time: time.Now(), Status: resp.Status, Samples: n, Metadata: nMeta, Header: req.Header.Clone(), V2: v2})
	if resp.Status/100 == 2 {
		r.record(wr)
		maps.Copy(r.inline, inline)
		maps.Copy(r.starts, starts)
	}
	if resp.RetryAfter != "" {
		w.Header().Set("Retry-After", resp.RetryAfter)
	}
	if decodeV2 && decoded {
		written := strconv.Itoa(n)
		if resp.Status/100 != 2 {
			written = "0"
		}
		if resp.Written != "" {
			written = resp.Written
		}
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", written)
		w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", "0")
		w.Header().Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
	}
	w.WriteHeader(resp.Status)
	_, _ = io.WriteString(w, resp.Body)
}

func (r *Receiver) record(wr prompb.WriteRequest) {
	for _, m := range wr.Metadata {
		r.metadata[m.MetricFamilyName] = m
	}
	if r.countOnly {
		for _, ts := range wr.Timeseries {
			r.total += len(ts.Samples)
		}
		return
	}
	for _, ts := range wr.Timeseries {
		key := labelsString(ts.Labels)
		got := r.series[key]
		for _, s := range ts.Samples {
			if len(got) > 0 {
				last := got[len(got)-1].T
				if r.promOrder && s.Timestamp == last {
					continue // Prometheus ignores an identical re-sent sample
				}
				if s.Timestamp < last {
					r.problems = append(r.problems, fmt.Sprintf("%s: timestamp %d went back (newest accepted %d)", key, s.Timestamp, last))
				} else if s.Timestamp == last {
					r.duplicates++
				}
			}
			got = append(got, Sample{T: s.Timestamp, V: s.Value})
			r.total++
		}
		r.series[key] = got
	}
}

// fromV2 decodes a 2.0 request into the 1.0 form the receiver records (labels resolved
// from the symbols table) and the metadata its series carried, by series name.
func fromV2(raw []byte) (prompb.WriteRequest, map[string]metadata.Metadata, map[string]int64, error) {
	var req writev2.Request
	if err := req.Unmarshal(raw); err != nil {
		return prompb.WriteRequest{}, nil, nil, err
	}
	var (
		wr     prompb.WriteRequest
		b      labels.ScratchBuilder
		meta   = map[string]metadata.Metadata{}
		starts = map[string]int64{}
	)
	for _, ts := range req.Timeseries {
		ls, err := ts.ToLabels(&b, req.Symbols)
		if err != nil {
			return prompb.WriteRequest{}, nil, nil, err
		}
		out := prompb.TimeSeries{Labels: prompb.FromLabels(ls, nil)}
		for _, s := range ts.Samples {
			out.Samples = append(out.Samples, prompb.Sample{Value: s.Value, Timestamp: s.Timestamp})
			if s.StartTimestamp != 0 {
				starts[labelsString(out.Labels)] = s.StartTimestamp
			}
		}
		wr.Timeseries = append(wr.Timeseries, out)
		if ts.Metadata.Type != writev2.Metadata_METRIC_TYPE_UNSPECIFIED {
			m, err := ts.ToMetadata(req.Symbols)
			if err != nil {
				return prompb.WriteRequest{}, nil, nil, err
			}
			meta[ls.Get("__name__")] = m
		}
	}
	return wr, meta, starts, nil
}

func labelsString(ls []prompb.Label) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}
