package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"hash/maphash"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/loki/pkg/push"
)

// LokiStats are the Loki sink's counts since it started or was last reset, served at /stats.
type LokiStats struct {
	// ElapsedSeconds is the time since the start or the last reset.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Requests counts accepted push requests.
	Requests uint64 `json:"requests"`
	// Rejected counts requests answered with a 4xx: an undecodable body.
	Rejected uint64 `json:"rejected"`
	// Bytes is the size of the accepted request bodies as sent (snappy or gzip-compressed).
	Bytes uint64 `json:"bytes"`
	// DecodedBytes is their size decoded (the protobuf, or the JSON).
	DecodedBytes uint64 `json:"decoded_bytes"`
	// Entries counts log entries; LineBytes is the size of their lines.
	Entries   uint64 `json:"entries"`
	LineBytes uint64 `json:"line_bytes"`
	// StructuredMetadata counts structured metadata pairs over all entries.
	StructuredMetadata uint64 `json:"structured_metadata"`
	// Streams is the number of distinct label sets received.
	Streams int `json:"streams"`
	// OutOfOrder counts entries not newer than the last one of their stream: resends and
	// duplicates (when the sender's timestamps increase strictly, as loadgen logs writes them).
	OutOfOrder uint64 `json:"out_of_order"`
	// EntriesPerSecond is Entries / ElapsedSeconds.
	EntriesPerSecond float64 `json:"entries_per_second"`
	// LagMeanSeconds and LagMaxSeconds are arrival time minus entry timestamp.
	LagMeanSeconds float64 `json:"lag_mean_seconds"`
	LagMaxSeconds  float64 `json:"lag_max_seconds"`
	// LastArrivalUnix is when the last accepted request was counted (Unix seconds, 0 before
	// the first): with the sender's start time, how long it took to deliver everything.
	LastArrivalUnix float64 `json:"last_arrival_unix"`
}

// lokiSink receives Loki pushes — protobuf (push.PushRequest) in a snappy block, or the
// JSON form, optionally gzipped — and counts. It keeps one timestamp per distinct stream.
type lokiSink struct {
	bodies bodies
	now    func() time.Time

	mu      sync.Mutex
	start   time.Time
	st      LokiStats
	lag     lag
	streams newest // stream label string hash -> newest timestamp (ns)
}

func newLokiSink(maxBody int64, now func() time.Time) *lokiSink {
	return &lokiSink{bodies: bodies{maxBody: maxBody}, now: now, start: now(), streams: newNewest()}
}

func (s *lokiSink) handler() http.Handler {
	return statsMux(s.push, []string{"/loki/api/v1/push", "/api/prom/push"},
		func() any { return s.Snapshot() }, s.reset)
}

func (s *lokiSink) push(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		streams          []push.Stream
		wire, decodedLen int
		herr             *httpError
	)
	if ct == "application/json" {
		streams, wire, decodedLen, herr = s.decodeJSON(r)
	} else {
		streams, wire, decodedLen, herr = s.decodeProto(r)
	}
	if herr != nil {
		s.mu.Lock()
		s.st.Rejected++
		s.mu.Unlock()
		http.Error(w, herr.msg, herr.code)
		return
	}
	s.count(streams, wire, decodedLen)
	w.WriteHeader(http.StatusNoContent)
}

func (s *lokiSink) decodeProto(r *http.Request) ([]push.Stream, int, int, *httpError) {
	raw, dec, block, herr := s.bodies.snappyBlock(r)
	defer s.bodies.put(raw, dec)
	if herr != nil {
		return nil, 0, 0, herr
	}
	var req push.PushRequest
	if err := req.Unmarshal(block); err != nil {
		return nil, 0, 0, refuse(http.StatusBadRequest, "protobuf: %v", err)
	}
	return req.Streams, len(*raw), len(block), nil
}

// jsonPush is Loki's JSON push body: values are [timestamp ns as a string, line] or
// [timestamp, line, {structured metadata}].
type jsonPush struct {
	Streams []struct {
		Stream map[string]string   `json:"stream"`
		Values [][]json.RawMessage `json:"values"`
	} `json:"streams"`
}

func (s *lokiSink) decodeJSON(r *http.Request) ([]push.Stream, int, int, *httpError) {
	raw, herr := s.bodies.read(r)
	defer s.bodies.put(raw)
	if herr != nil {
		return nil, 0, 0, herr
	}
	body := *raw
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, 0, 0, refuse(http.StatusBadRequest, "gzip: %v", err)
		}
		body, err = io.ReadAll(io.LimitReader(zr, s.bodies.maxBody+1))
		if err != nil || int64(len(body)) > s.bodies.maxBody {
			return nil, 0, 0, refuse(http.StatusBadRequest, "gzip body unreadable or too large")
		}
	}
	var req jsonPush
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, 0, 0, refuse(http.StatusBadRequest, "json: %v", err)
	}
	out := make([]push.Stream, 0, len(req.Streams))
	for _, js := range req.Streams {
		st := push.Stream{Labels: lokiLabels(js.Stream), Entries: make([]push.Entry, 0, len(js.Values))}
		for _, v := range js.Values {
			e, err := jsonEntry(v)
			if err != nil {
				return nil, 0, 0, refuse(http.StatusBadRequest, "json entry: %v", err)
			}
			st.Entries = append(st.Entries, e)
		}
		out = append(out, st)
	}
	return out, len(*raw), len(body), nil
}

func jsonEntry(v []json.RawMessage) (push.Entry, error) {
	var e push.Entry
	if len(v) < 2 || len(v) > 3 {
		return e, refuse(http.StatusBadRequest, "want [timestamp, line] or [timestamp, line, metadata], got %d elements", len(v))
	}
	var tsStr string
	if err := json.Unmarshal(v[0], &tsStr); err != nil {
		return e, err
	}
	ns, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return e, err
	}
	e.Timestamp = time.Unix(0, ns)
	if err := json.Unmarshal(v[1], &e.Line); err != nil {
		return e, err
	}
	if len(v) == 3 {
		var sm map[string]string
		if err := json.Unmarshal(v[2], &sm); err != nil {
			return e, err
		}
		for k, val := range sm {
			e.StructuredMetadata = append(e.StructuredMetadata, push.LabelAdapter{Name: k, Value: val})
		}
	}
	return e, nil
}

// lokiLabels renders labels the way Loki names a stream: {a="1", b="2"}, sorted.
func lokiLabels(ls map[string]string) string {
	names := make([]string, 0, len(ls))
	for n := range ls {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(ls[n]))
	}
	b.WriteByte('}')
	return b.String()
}

// count adds one decoded request to the stats. Hashing happens outside the lock.
func (s *lokiSink) count(streams []push.Stream, wireBytes, decodedBytes int) {
	hashes := make([]uint64, len(streams))
	for i := range streams {
		hashes[i] = maphash.String(s.streams.seed, streams[i].Labels)
	}
	now := s.now()
	nowNs := now.UnixNano()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Requests++
	s.st.Bytes += uint64(wireBytes)
	s.st.DecodedBytes += uint64(decodedBytes)
	s.st.LastArrivalUnix = float64(nowNs) / 1e9
	for i := range streams {
		for j := range streams[i].Entries {
			e := &streams[i].Entries[j]
			ts := e.Timestamp.UnixNano()
			s.st.Entries++
			s.st.LineBytes += uint64(len(e.Line))
			s.st.StructuredMetadata += uint64(len(e.StructuredMetadata))
			if s.streams.observe(hashes[i], ts) {
				s.st.OutOfOrder++
			}
			s.lag.add(float64(nowNs-ts) / 1e9)
		}
	}
}

// Snapshot returns the current stats.
func (s *lokiSink) Snapshot() LokiStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Streams = s.streams.len()
	st.ElapsedSeconds = s.now().Sub(s.start).Seconds()
	if st.ElapsedSeconds > 0 {
		st.EntriesPerSecond = float64(st.Entries) / st.ElapsedSeconds
	}
	st.LagMeanSeconds, st.LagMaxSeconds = s.lag.mean(st.Entries), s.lag.max
	return st
}

func (s *lokiSink) reset() {
	s.mu.Lock()
	s.st, s.lag, s.start = LokiStats{}, lag{}, s.now()
	s.streams.reset()
	s.mu.Unlock()
}

// serveLokiSink runs the Loki sink on listen until ctx ends.
func serveLokiSink(ctx context.Context, listen string, maxBody int64, logger *slog.Logger) error {
	s := newLokiSink(maxBody, time.Now)
	return serveHTTP(ctx, listen, s.handler(), logger.With("push_path", "/loki/api/v1/push"), "loki sink listening", func() {
		st := s.Snapshot()
		logger.Info("loki sink stopped", "requests", st.Requests, "entries", st.Entries, "streams", st.Streams)
	})
}
