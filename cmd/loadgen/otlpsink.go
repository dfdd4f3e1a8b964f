package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // agents compress OTLP/gRPC with gzip by default
	"google.golang.org/grpc/stats"
)

// OTLPStats are the OTLP sink's counts since it started or was last reset, served at /stats.
type OTLPStats struct {
	// ElapsedSeconds is the time since the start or the last reset.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Requests counts trace export requests; ResourceSpans the resources in them.
	Requests      uint64 `json:"requests"`
	ResourceSpans uint64 `json:"resource_spans"`
	// Spans counts spans; Events the span events among them.
	Spans  uint64 `json:"spans"`
	Events uint64 `json:"events"`
	// Bytes is the size of the request messages as sent (compressed, when they were);
	// DecodedBytes their size after decompression (the protobuf).
	Bytes        uint64 `json:"bytes"`
	DecodedBytes uint64 `json:"decoded_bytes"`
	// SpansPerSecond is Spans / ElapsedSeconds.
	SpansPerSecond float64 `json:"spans_per_second"`
	// SpansPerRequest is Spans / Requests: how the agent batched.
	SpansPerRequest float64 `json:"spans_per_request"`
	// LagMeanSeconds and LagMaxSeconds are arrival time minus span end time: how long a
	// span took from the application to the sink.
	LagMeanSeconds float64 `json:"lag_mean_seconds"`
	LagMaxSeconds  float64 `json:"lag_max_seconds"`
	// LastArrivalUnix is when the last request was counted (Unix seconds, 0 before the first).
	LastArrivalUnix float64 `json:"last_arrival_unix"`
}

// otlpSink receives OTLP/gRPC trace exports (the TraceService; metrics and logs are not
// served) and counts them. Every request is accepted.
type otlpSink struct {
	ptraceotlp.UnimplementedGRPCServer
	now func() time.Time

	// Payload sizes come from gRPC's stats handler, outside the lock.
	bytes, decodedBytes atomic.Uint64

	mu    sync.Mutex
	start time.Time
	st    OTLPStats
	lag   lag
}

func newOTLPSink(now func() time.Time) *otlpSink {
	return &otlpSink{now: now, start: now()}
}

// Export implements ptraceotlp.GRPCServer.
func (s *otlpSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	var spans, events, resources uint64
	var lagSum, lagMax float64
	nowNs := uint64(s.now().UnixNano())
	rss := req.Traces().ResourceSpans()
	for i := range rss.Len() {
		resources++
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			ss := sss.At(j).Spans()
			for k := range ss.Len() {
				sp := ss.At(k)
				spans++
				events += uint64(sp.Events().Len())
				l := (float64(nowNs) - float64(sp.EndTimestamp())) / 1e9
				lagSum += l
				lagMax = max(lagMax, l)
			}
		}
	}
	s.mu.Lock()
	s.st.Requests++
	s.st.ResourceSpans += resources
	s.st.Spans += spans
	s.st.Events += events
	s.lag.sum += lagSum
	s.lag.max = max(s.lag.max, lagMax)
	s.st.LastArrivalUnix = float64(nowNs) / 1e9
	s.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}

// handler serves GET /stats and POST /reset (the spans come over gRPC).
func (s *otlpSink) handler() http.Handler {
	return statsMux(nil, nil, func() any { return s.Snapshot() }, s.reset)
}

// Snapshot returns the current stats.
func (s *otlpSink) Snapshot() OTLPStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Bytes, st.DecodedBytes = s.bytes.Load(), s.decodedBytes.Load()
	st.ElapsedSeconds = s.now().Sub(s.start).Seconds()
	if st.ElapsedSeconds > 0 {
		st.SpansPerSecond = float64(st.Spans) / st.ElapsedSeconds
	}
	if st.Requests > 0 {
		st.SpansPerRequest = float64(st.Spans) / float64(st.Requests)
	}
	st.LagMeanSeconds, st.LagMaxSeconds = s.lag.mean(st.Spans), s.lag.max
	return st
}

func (s *otlpSink) reset() {
	s.mu.Lock()
	s.st, s.lag, s.start = OTLPStats{}, lag{}, s.now()
	s.bytes.Store(0)
	s.decodedBytes.Store(0)
	s.mu.Unlock()
}

// payloadStats is the gRPC stats handler that counts request message sizes.
type payloadStats struct{ s *otlpSink }

func (p payloadStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (p payloadStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (p payloadStats) HandleConn(context.Context, stats.ConnStats) {}
func (p payloadStats) HandleRPC(_ context.Context, rs stats.RPCStats) {
	if in, ok := rs.(*stats.InPayload); ok {
		p.s.bytes.Add(uint64(in.CompressedLength))
		p.s.decodedBytes.Add(uint64(in.Length))
	}
}

// grpcServer returns a gRPC server of the sink's trace service; maxMsg bounds one request
// message after decompression.
func (s *otlpSink) grpcServer(maxMsg int) *grpc.Server {
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxMsg), grpc.StatsHandler(payloadStats{s}))
	ptraceotlp.RegisterGRPCServer(srv, s)
	return srv
}

// serveOTLPSink runs the sink's gRPC server on grpcLn and its /stats and /reset on
// statsListen until ctx ends. maxMsg bounds one request message after decompression.
func serveOTLPSink(ctx context.Context, grpcLn net.Listener, statsListen string, maxMsg int, logger *slog.Logger) error {
	s := newOTLPSink(time.Now)
	srv := s.grpcServer(maxMsg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(grpcLn) }()
	logger.Info("OTLP sink listening", "grpc", grpcLn.Addr().String())

	err := serveHTTP(ctx, statsListen, s.handler(), logger, "OTLP sink stats listening", func() {
		st := s.Snapshot()
		logger.Info("OTLP sink stopped", "requests", st.Requests, "spans", st.Spans)
	})
	// The HTTP server has stopped (ctx ended, or it failed to start): so does gRPC.
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		srv.Stop() // slow clients at exit are not the sink's failure
		<-stopped
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, grpc.ErrServerStopped) {
		err = errors.Join(err, serr)
	}
	return err
}

func otlpSinkCmd(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) int {
	fs := flag.NewFlagSet("loadgen otlp-sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:4417", "OTLP/gRPC listen address")
	statsListen := fs.String("stats-listen", "127.0.0.1:19997", "HTTP listen address of /stats and /reset")
	maxMsg := fs.Int("max-msg-bytes", 64<<20, "largest request message accepted (decompressed)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen otlp-sink: unexpected arguments %q\n", fs.Args())
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		logger.Error("otlp-sink stopped with an error", "err", err)
		return 1
	}
	if err := serveOTLPSink(ctx, ln, *statsListen, *maxMsg, logger); err != nil {
		logger.Error("otlp-sink stopped with an error", "err", err)
		return 1
	}
	return 0
}
