package main

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
)

// Stats are the sink's counts since it started or was last reset, served at /stats.
type Stats struct {
	// ElapsedSeconds is the time since the start or the last reset.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Requests counts accepted write requests.
	Requests uint64 `json:"requests"`
	// Rejected counts requests answered with a 4xx: another protocol, or an undecodable body.
	Rejected uint64 `json:"rejected"`
	// Bytes is the size of the accepted request bodies as sent (snappy-compressed).
	Bytes uint64 `json:"bytes"`
	// DecodedBytes is their size after snappy decoding (the protobuf).
	DecodedBytes uint64 `json:"decoded_bytes"`
	// Samples counts float samples, staleness markers included.
	Samples uint64 `json:"samples"`
	// StaleMarkers counts the staleness markers among Samples.
	StaleMarkers uint64 `json:"stale_markers"`
	// Histograms, Exemplars and Metadata count the other payloads of remote write 1.0.
	Histograms uint64 `json:"histograms"`
	Exemplars  uint64 `json:"exemplars"`
	Metadata   uint64 `json:"metadata"`
	// Series is the number of distinct label sets received.
	Series int `json:"series"`
	// OutOfOrder counts samples not newer than the last one of their series: resends and
	// duplicates.
	OutOfOrder uint64 `json:"out_of_order"`
	// SamplesPerSecond is Samples / ElapsedSeconds.
	SamplesPerSecond float64 `json:"samples_per_second"`
	// LagMeanSeconds and LagMaxSeconds are arrival time minus sample timestamp: how long a
	// sample took from the scrape to the sink.
	LagMeanSeconds float64 `json:"lag_mean_seconds"`
	LagMaxSeconds  float64 `json:"lag_max_seconds"`
}

// sink receives Prometheus remote write 1.0 (snappy block, prompb.WriteRequest) and counts.
// It keeps one timestamp per distinct series; everything else is a counter.
type sink struct {
	bodies bodies
	now    func() time.Time

	mu     sync.Mutex
	start  time.Time
	st     Stats
	lag    lag    // over the samples counted in st.Samples
	series newest // series hash -> newest timestamp (ms)
}

func newSink(maxBody int64, now func() time.Time) *sink {
	return &sink{bodies: bodies{maxBody: maxBody}, now: now, start: now(), series: newNewest()}
}

func (s *sink) handler() http.Handler {
	return statsMux(s.write, []string{"/api/v1/write", "/api/v1/push"},
		func() any { return s.Snapshot() }, s.reset)
}

func (s *sink) write(w http.ResponseWriter, r *http.Request) {
	// Remote write 2.0 and VictoriaMetrics' zstd protocol are refused with 415, which makes
	// senders that can fall back use 1.0.
	if ct := r.Header.Get("Content-Type"); strings.Contains(ct, "io.prometheus.write.v2") {
		s.reject(w, refuse(http.StatusUnsupportedMediaType, "only remote write 1.0 (prometheus.WriteRequest) is accepted"))
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "snappy" {
		s.reject(w, refuse(http.StatusUnsupportedMediaType, "Content-Encoding %q: only snappy is accepted", enc))
		return
	}
	raw, dec, block, herr := s.bodies.snappyBlock(r)
	defer s.bodies.put(raw, dec)
	if herr != nil {
		s.reject(w, herr)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(block); err != nil {
		s.reject(w, refuse(http.StatusBadRequest, "protobuf: %v", err))
		return
	}
	s.count(&req, len(*raw), len(block))
	w.WriteHeader(http.StatusNoContent)
}

// count adds one decoded request to the stats. Hashing happens outside the lock.
func (s *sink) count(req *prompb.WriteRequest, wireBytes, decodedBytes int) {
	hashes := make([]uint64, len(req.Timeseries))
	var h maphash.Hash
	h.SetSeed(s.series.seed)
	for i, ts := range req.Timeseries {
		h.Reset()
		for _, l := range ts.Labels {
			_, _ = h.WriteString(l.Name)
			_ = h.WriteByte(0xff)
			_, _ = h.WriteString(l.Value)
			_ = h.WriteByte(0xff)
		}
		hashes[i] = h.Sum64()
	}
	nowMs := s.now().UnixMilli()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Requests++
	s.st.Bytes += uint64(wireBytes)
	s.st.DecodedBytes += uint64(decodedBytes)
	s.st.Metadata += uint64(len(req.Metadata))
	for i, ts := range req.Timeseries {
		for _, smp := range ts.Samples {
			s.st.Samples++
			if value.IsStaleNaN(smp.Value) {
				s.st.StaleMarkers++
			}
			if s.series.observe(hashes[i], smp.Timestamp) {
				s.st.OutOfOrder++
			}
			s.lag.add(float64(nowMs-smp.Timestamp) / 1000)
		}
		for _, hs := range ts.Histograms {
			s.st.Histograms++
			s.series.observe(hashes[i], hs.Timestamp)
		}
		s.st.Exemplars += uint64(len(ts.Exemplars))
	}
}

func (s *sink) reject(w http.ResponseWriter, e *httpError) {
	s.mu.Lock()
	s.st.Rejected++
	s.mu.Unlock()
	http.Error(w, e.msg, e.code)
}

// Snapshot returns the current stats.
func (s *sink) Snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Series = s.series.len()
	st.ElapsedSeconds = s.now().Sub(s.start).Seconds()
	if st.ElapsedSeconds > 0 {
		st.SamplesPerSecond = float64(st.Samples) / st.ElapsedSeconds
	}
	st.LagMeanSeconds, st.LagMaxSeconds = s.lag.mean(st.Samples), s.lag.max
	return st
}

func (s *sink) reset() {
	s.mu.Lock()
	s.st, s.lag, s.start = Stats{}, lag{}, s.now()
	s.series.reset()
	s.mu.Unlock()
}

// serveSink runs the sink on listen until ctx ends.
func serveSink(ctx context.Context, listen string, maxBody int64, logger *slog.Logger) error {
	s := newSink(maxBody, time.Now)
	return serveHTTP(ctx, listen, s.handler(), logger.With("write_path", "/api/v1/write"), "sink listening", func() {
		st := s.Snapshot()
		logger.Info("sink stopped", "requests", st.Requests, "samples", st.Samples, "series", st.Series)
	})
}
