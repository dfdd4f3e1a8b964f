package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
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
	maxBody int64
	seed    maphash.Seed
	now     func() time.Time

	bufs sync.Pool // *[]byte, request bodies and decoded blocks

	mu     sync.Mutex
	start  time.Time
	st     Stats
	lagSum float64          // seconds, over the samples counted in st.Samples
	last   map[uint64]int64 // series hash -> newest timestamp (ms)
}

func newSink(maxBody int64, now func() time.Time) *sink {
	return &sink{
		maxBody: maxBody,
		seed:    maphash.MakeSeed(),
		now:     now,
		start:   now(),
		last:    make(map[uint64]int64),
	}
}

func (s *sink) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/write", s.write)
	mux.HandleFunc("POST /api/v1/push", s.write)
	mux.HandleFunc("GET /stats", s.stats)
	mux.HandleFunc("POST /reset", s.reset)
	return mux
}

func (s *sink) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1<<20)
	return &b
}

func (s *sink) write(w http.ResponseWriter, r *http.Request) {
	// Remote write 2.0 and VictoriaMetrics' zstd protocol are refused with 415, which makes
	// senders that can fall back use 1.0.
	if ct := r.Header.Get("Content-Type"); strings.Contains(ct, "io.prometheus.write.v2") {
		s.reject(w, http.StatusUnsupportedMediaType, "only remote write 1.0 (prometheus.WriteRequest) is accepted")
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "snappy" {
		s.reject(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q: only snappy is accepted", enc))
		return
	}
	raw, dec := s.getBuf(), s.getBuf()
	defer s.bufs.Put(raw)
	defer s.bufs.Put(dec)

	body := bytes.NewBuffer((*raw)[:0])
	if _, err := body.ReadFrom(io.LimitReader(r.Body, s.maxBody+1)); err != nil {
		s.reject(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	*raw = body.Bytes()
	if int64(len(*raw)) > s.maxBody {
		s.reject(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	n, err := snappy.DecodedLen(*raw)
	if err != nil || int64(n) > s.maxBody {
		s.reject(w, http.StatusBadRequest, "not a valid snappy block of acceptable size")
		return
	}
	if cap(*dec) < n {
		*dec = make([]byte, n)
	}
	block, err := snappy.Decode((*dec)[:cap(*dec)], *raw)
	if err != nil {
		s.reject(w, http.StatusBadRequest, "snappy: "+err.Error())
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(block); err != nil {
		s.reject(w, http.StatusBadRequest, "protobuf: "+err.Error())
		return
	}
	s.count(&req, len(*raw), len(block))
	w.WriteHeader(http.StatusNoContent)
}

// count adds one decoded request to the stats. Hashing happens outside the lock.
func (s *sink) count(req *prompb.WriteRequest, wireBytes, decodedBytes int) {
	hashes := make([]uint64, len(req.Timeseries))
	var h maphash.Hash
	h.SetSeed(s.seed)
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
		last, seen := s.last[hashes[i]]
		newest := last
		for _, smp := range ts.Samples {
			s.st.Samples++
			if value.IsStaleNaN(smp.Value) {
				s.st.StaleMarkers++
			}
			if seen && smp.Timestamp <= last {
				s.st.OutOfOrder++
			}
			if !seen || smp.Timestamp > newest {
				newest, seen = smp.Timestamp, true
			}
			lag := float64(nowMs-smp.Timestamp) / 1000
			s.lagSum += lag
			s.st.LagMaxSeconds = math.Max(s.st.LagMaxSeconds, lag)
		}
		for _, hs := range ts.Histograms {
			s.st.Histograms++
			if !seen || hs.Timestamp > newest {
				newest, seen = hs.Timestamp, true
			}
		}
		s.st.Exemplars += uint64(len(ts.Exemplars))
		if seen {
			s.last[hashes[i]] = newest
		}
	}
}

func (s *sink) reject(w http.ResponseWriter, code int, msg string) {
	s.mu.Lock()
	s.st.Rejected++
	s.mu.Unlock()
	http.Error(w, msg, code)
}

// Snapshot returns the current stats.
func (s *sink) Snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Series = len(s.last)
	st.ElapsedSeconds = s.now().Sub(s.start).Seconds()
	if st.ElapsedSeconds > 0 {
		st.SamplesPerSecond = float64(st.Samples) / st.ElapsedSeconds
	}
	if st.Samples > 0 {
		st.LagMeanSeconds = s.lagSum / float64(st.Samples)
	}
	return st
}

func (s *sink) stats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Snapshot())
}

func (s *sink) reset(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.st, s.lagSum, s.start = Stats{}, 0, s.now()
	clear(s.last)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// serveSink runs the sink on listen until ctx ends.
func serveSink(ctx context.Context, listen string, maxBody int64, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	s := newSink(maxBody, time.Now)
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("sink listening", "addr", ln.Addr().String(), "write_path", "/api/v1/write")

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	<-errc
	st := s.Snapshot()
	logger.Info("sink stopped", "requests", st.Requests, "samples", st.Samples, "series", st.Series)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // slow clients at exit are not the sink's failure
	}
	return err
}
