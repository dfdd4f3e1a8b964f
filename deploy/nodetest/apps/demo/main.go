// Command demo is an application like sonde's users' ones, for the real-node end-to-end
// test: it logs identified lines (see package emit) to stdout and stderr at a steady rate,
// serves Prometheus metrics, and sends one span per N lines over OTLP gRPC to its node's
// agent. On SIGTERM or SIGINT it stops logging, writes the final line with its totals,
// flushes its spans and exits 0.
//
// Every flag can also be set from the environment: -run-id from RUN_ID, and so on (upper
// case, '-' as '_'). HOST_IP (the downward API's status.hostIP) gives the default OTLP
// endpoint HOST_IP:4317.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sondehq/sonde/deploy/nodetest/apps/internal/emit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

type config struct {
	rate            float64
	total           uint64
	runID           string
	stderrPercent   int
	padBytes        int
	metricsAddr     string
	otlpEndpoint    string
	spanEvery       uint64
	exitWhenDone    bool
	shutdownTimeout time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run logs until ctx ends (or -total lines with -exit-when-done), then shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&c.rate, "rate", 200, "lines per second on both streams together (0: log nothing, serve metrics only)")
	fs.Uint64Var(&c.total, "total", 0, "lines to write before the final line (0: until SIGTERM)")
	fs.StringVar(&c.runID, "run-id", "dev", "run id written on every line")
	fs.IntVar(&c.stderrPercent, "stderr-percent", 20, "share of the lines that go to stderr, 0..100")
	fs.IntVar(&c.padBytes, "pad", 1024, "padding bytes per line (about 1 KiB: a 1 MiB log rotates every few seconds at a few hundred lines/s)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", ":8080", "listen address of /metrics (empty: none)")
	fs.StringVar(&c.otlpEndpoint, "otlp-endpoint", "", "OTLP gRPC host:port for spans (default $HOST_IP:4317; \"none\": no spans)")
	fs.Uint64Var(&c.spanEvery, "span-every", 100, "one span per this many lines (0: no spans)")
	fs.BoolVar(&c.exitWhenDone, "exit-when-done", false, "exit after -total lines instead of waiting for SIGTERM")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 5*time.Second, "time allowed to flush spans on exit")
	if err := emit.Parse(fs, args); err != nil {
		return err
	}
	if c.otlpEndpoint == "" {
		if ip := os.Getenv("HOST_IP"); ip != "" {
			c.otlpEndpoint = net.JoinHostPort(ip, "4317")
		}
	}
	if c.otlpEndpoint == "none" {
		c.otlpEndpoint = ""
	}

	w := emit.New("demo", c.runID, c.stderrPercent, stdout, stderr)
	m := newMetrics(w, c.runID)

	var srv *http.Server
	if c.metricsAddr != "" {
		ln, err := net.Listen("tcp", c.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv = &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
	}
	tr, err := newTracing(ctx, c.otlpEndpoint, c.runID, w.Inst(), m)
	if err != nil {
		return err
	}

	var logErr error
	if c.rate > 0 {
		pad := " pad=" + strings.Repeat("x", max(c.padBytes, 0))
		logErr = emit.Pace(ctx, c.rate, c.total, func() error { return writeLine(ctx, w, m, tr.tracer, c, pad) })
		if logErr == nil {
			logErr = w.Final()
		}
	}
	if logErr == nil && !c.exitWhenDone {
		<-ctx.Done()
	}

	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	// A receiver that is down must not turn a clean SIGTERM into a failure: lost spans are
	// counted in demo_otel_errors_total, not reported as the exit status.
	_ = tr.shutdown(sctx)
	if srv != nil {
		_ = srv.Shutdown(sctx)
	}
	return logErr
}

// routes are what the demo pretends to serve; a line's seq picks one.
var routes = []struct{ method, path, msg string }{
	{"GET", "/api/cart", "cart loaded"},
	{"POST", "/api/cart/items", "item added"},
	{"GET", "/api/products", "products listed"},
	{"POST", "/api/checkout", "order placed"},
	{"GET", "/healthz", "health checked"},
}

// writeLine writes the next line; every spanEvery-th line (both streams counted) also
// records a span, whose demo.seq and demo.stream name that line, and carries its trace id.
func writeLine(ctx context.Context, w *emit.Writer, m *metrics, tracer trace.Tracer, c config, pad string) error {
	seq, s := w.Next()
	r := routes[seq%uint64(len(routes))]
	status, msg := 200, r.msg
	if s == emit.Stderr {
		status, msg = 503, "upstream unavailable"
	}
	durMS := 1 + (seq*7919)%250 // deterministic, spread over 1..250 ms
	b := make([]byte, 0, 256+c.padBytes)
	b = fmt.Appendf(b, "msg=%q method=%s path=%s status=%d duration_ms=%d", msg, r.method, r.path, status, durMS)
	if c.spanEvery > 0 && w.Lines()%c.spanEvery == 0 {
		now := time.Now()
		_, span := tracer.Start(ctx, r.method+" "+r.path, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithTimestamp(now.Add(-time.Duration(durMS)*time.Millisecond)),
			trace.WithAttributes(
				attribute.Int64("demo.seq", int64(seq)),
				attribute.String("demo.stream", s.String()),
				attribute.String("demo.run", c.runID),
				attribute.String("demo.inst", w.Inst()),
				attribute.String("http.request.method", r.method),
				attribute.String("http.route", r.path),
				attribute.Int("http.response.status_code", status),
			))
		span.End(trace.WithTimestamp(now))
		m.spans.Inc()
		b = append(b, " trace_id="...)
		b = append(b, span.SpanContext().TraceID().String()...)
	}
	if c.padBytes > 0 {
		b = append(b, pad...)
	}
	if err := w.Line(seq, s, b); err != nil {
		return err
	}
	m.observe(s, seq, float64(durMS)/1000, strconv.Itoa(status))
	return nil
}
