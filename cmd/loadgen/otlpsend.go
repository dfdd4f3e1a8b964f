package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
)

// otlpSendOptions say what `loadgen otlp-send` sends.
type otlpSendOptions struct {
	endpoint    string        // host:port of an OTLP/gRPC receiver (plain text)
	rate        float64       // spans per second over all connections; 0: as fast as possible
	duration    time.Duration // how long to send; 0: until spans are sent (or ctx ends)
	spans       int64         // spans to send over all connections; 0: no limit
	batch       int           // spans per request
	conns       int           // connections, each with one sender (one service instance)
	compression string        // none or gzip
	timeout     time.Duration // bound of one export
	seed        uint64
}

// OTLPSendSummary is what `loadgen otlp-send` prints when done, as JSON.
type OTLPSendSummary struct {
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// TargetSpansPerSecond is --rate (0: as fast as possible).
	TargetSpansPerSecond float64 `json:"target_spans_per_second"`
	// Requests counts export calls; FailedRequests those answered with an error.
	Requests       uint64 `json:"requests"`
	FailedRequests uint64 `json:"failed_requests"`
	// SpansSent counts spans in all export calls; SpansAccepted those the receiver took
	// (not in a failed call, nor rejected by a partial success); SpansRefused the others.
	SpansSent     uint64 `json:"spans_sent"`
	SpansAccepted uint64 `json:"spans_accepted"`
	SpansRefused  uint64 `json:"spans_refused"`
	// SpansPerSecond is SpansAccepted / ElapsedSeconds.
	SpansPerSecond float64 `json:"spans_per_second"`
	// LatencyMeanSeconds and LatencyMaxSeconds time the export calls.
	LatencyMeanSeconds float64 `json:"latency_mean_seconds"`
	LatencyMaxSeconds  float64 `json:"latency_max_seconds"`
	// Errors counts failed calls by gRPC status code; FirstError is the first one's message.
	Errors     map[string]uint64 `json:"errors,omitempty"`
	FirstError string            `json:"first_error,omitempty"`
}

// add merges one sender's counts into sum.
func (sum *OTLPSendSummary) add(o *OTLPSendSummary, latencySum float64) {
	sum.Requests += o.Requests
	sum.FailedRequests += o.FailedRequests
	sum.SpansSent += o.SpansSent
	sum.SpansAccepted += o.SpansAccepted
	sum.SpansRefused += o.SpansRefused
	sum.LatencyMeanSeconds += latencySum // a sum until sendOTLP divides it
	sum.LatencyMaxSeconds = max(sum.LatencyMaxSeconds, o.LatencyMaxSeconds)
	for code, n := range o.Errors {
		if sum.Errors == nil {
			sum.Errors = map[string]uint64{}
		}
		sum.Errors[code] += n
	}
	if sum.FirstError == "" {
		sum.FirstError = o.FirstError
	}
}

// sendOTLP exports generated spans to o.endpoint over o.conns connections until
// o.duration has passed, o.spans are sent or ctx ends. Refused requests are counted, not
// retried. An export in flight when time is up finishes (within o.timeout).
func sendOTLP(ctx context.Context, o otlpSendOptions, now func() time.Time) (OTLPSendSummary, error) {
	sum := OTLPSendSummary{TargetSpansPerSecond: o.rate}
	clients := make([]*grpc.ClientConn, o.conns)
	for i := range clients {
		cc, err := grpc.NewClient(o.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return sum, fmt.Errorf("connecting to %s: %w", o.endpoint, err)
		}
		defer cc.Close()
		clients[i] = cc
	}
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	var callOpts []grpc.CallOption
	callOpts = append(callOpts, grpc.WaitForReady(true))
	if o.compression == "gzip" {
		callOpts = append(callOpts, grpc.UseCompressor(gzip.Name))
	}

	// Each sender sends its share of o.spans and of o.rate.
	quota := make([]int64, o.conns)
	for i := range quota {
		quota[i] = o.spans / int64(o.conns)
		if int64(i) < o.spans%int64(o.conns) {
			quota[i]++
		}
	}
	var interval time.Duration // between two requests of one sender
	if o.rate > 0 {
		interval = time.Duration(float64(o.batch) * float64(o.conns) / o.rate * float64(time.Second))
	}

	start := now()
	results := make([]OTLPSendSummary, o.conns)
	latencies := make([]float64, o.conns)
	var wg sync.WaitGroup
	for i := range o.conns {
		wg.Go(func() {
			s := sender{
				client:   ptraceotlp.NewGRPCClient(clients[i]),
				gen:      newSpanGen(o.batch, i, o.seed),
				callOpts: callOpts,
				timeout:  o.timeout,
				now:      now,
				out:      &results[i],
			}
			// Senders start spread over one interval, not all at once.
			first := start.Add(interval * time.Duration(i) / time.Duration(o.conns))
			latencies[i] = s.run(ctx, first, interval, quota[i], o.spans > 0, o.batch)
		})
	}
	wg.Wait()
	sum.ElapsedSeconds = now().Sub(start).Seconds()
	for i := range results {
		sum.add(&results[i], latencies[i])
	}
	if sum.Requests > 0 {
		sum.LatencyMeanSeconds /= float64(sum.Requests)
	}
	if sum.ElapsedSeconds > 0 {
		sum.SpansPerSecond = float64(sum.SpansAccepted) / sum.ElapsedSeconds
	}
	return sum, nil
}

// sender is one connection's sending loop.
type sender struct {
	client   ptraceotlp.GRPCClient
	gen      *spanGen
	callOpts []grpc.CallOption
	timeout  time.Duration
	now      func() time.Time
	out      *OTLPSendSummary
}

// run sends a request every interval from first on (back to back when interval is 0, or
// when behind), until ctx ends or, when limited, quota spans are sent. It returns the sum
// of the call latencies in seconds.
func (s *sender) run(ctx context.Context, first time.Time, interval time.Duration, quota int64, limited bool, batch int) float64 {
	var latencySum float64
	next := first
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for ctx.Err() == nil && (!limited || int64(s.out.SpansSent) < quota) {
		if interval > 0 {
			if wait := next.Sub(s.now()); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return latencySum
				case <-timer.C:
				}
			}
			next = next.Add(interval)
		}
		td := s.gen.Next(s.now())
		if limited {
			// The last request of a limited run carries only what is left.
			if left := quota - int64(s.out.SpansSent); left < int64(batch) {
				td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(ptrace.Span) bool {
					left--
					return left < 0
				})
			}
		}
		n := uint64(td.SpanCount())
		// An export in flight when ctx ends still finishes, so that the counts are final.
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		t0 := s.now()
		resp, err := s.client.Export(callCtx, ptraceotlp.NewExportRequestFromTraces(td), s.callOpts...)
		cancel()
		lat := s.now().Sub(t0).Seconds()
		latencySum += lat
		s.out.LatencyMaxSeconds = max(s.out.LatencyMaxSeconds, lat)
		s.out.Requests++
		s.out.SpansSent += n
		if err != nil {
			s.out.FailedRequests++
			s.out.SpansRefused += n
			if s.out.Errors == nil {
				s.out.Errors = map[string]uint64{}
			}
			s.out.Errors[status.Code(err).String()]++
			if s.out.FirstError == "" {
				s.out.FirstError = err.Error()
			}
			continue
		}
		rejected := uint64(max(resp.PartialSuccess().RejectedSpans(), 0))
		s.out.SpansRefused += min(rejected, n)
		s.out.SpansAccepted += n - min(rejected, n)
	}
	return latencySum
}

func otlpSendCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen otlp-send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o otlpSendOptions
	fs.StringVar(&o.endpoint, "endpoint", "", "host:port of the OTLP/gRPC receiver (plain text)")
	fs.Float64Var(&o.rate, "rate", 0, "spans per second over all connections; 0: as fast as possible")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send; 0: until --spans are sent")
	fs.Int64Var(&o.spans, "spans", 0, "spans to send over all connections; 0: no limit")
	fs.IntVar(&o.batch, "batch", 512, "spans per request (the OpenTelemetry SDKs' default batch)")
	fs.IntVar(&o.conns, "conns", 4, "connections, one sender and one service instance each")
	fs.StringVar(&o.compression, "compression", "none", "none or gzip")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound of one export call")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated content")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "loadgen otlp-send: unexpected arguments %q\n", fs.Args())
		return 2
	case o.endpoint == "":
		fmt.Fprintln(stderr, "loadgen otlp-send: --endpoint is required")
		return 2
	case o.batch < 1 || o.conns < 1:
		fmt.Fprintln(stderr, "loadgen otlp-send: --batch and --conns must be at least 1")
		return 2
	case o.rate < 0 || o.duration < 0 || o.spans < 0 || o.timeout <= 0:
		fmt.Fprintln(stderr, "loadgen otlp-send: --rate, --duration and --spans must not be negative, --timeout must be positive")
		return 2
	case o.duration == 0 && o.spans == 0:
		fmt.Fprintln(stderr, "loadgen otlp-send: give --duration, --spans or both")
		return 2
	case o.compression != "none" && o.compression != "gzip":
		fmt.Fprintf(stderr, "loadgen otlp-send: --compression must be none or gzip, got %q\n", o.compression)
		return 2
	}
	sum, err := sendOTLP(ctx, o, time.Now)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen otlp-send: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(sum)
	if sum.SpansAccepted == 0 && sum.SpansSent > 0 {
		fmt.Fprintf(stderr, "loadgen otlp-send: nothing was accepted: %s\n", sum.FirstError)
		return 1
	}
	return 0
}
