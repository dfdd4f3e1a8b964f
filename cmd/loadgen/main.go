// Command loadgen is the load for sonde's comparison benchmarks (bench/compare.sh,
// bench/compare-logs.sh, bench/compare-otlp.sh): it serves many Prometheus exposition
// endpoints (targets) and receives what an agent remote-writes (sink), counting it; it
// writes container log files laid out like /var/log/pods (logs) and receives what an agent
// pushes to Loki (loki-sink); it sends OTLP spans (otlp-send) and receives them (otlp-sink).
// This file only wires subcommands, flags and signals.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usage = `loadgen — load for agent benchmarks

Usage:
  loadgen targets [--listen-base 127.0.0.1:20000] [--targets N] [--series M] [--seed S] [--churn 0.01 --churn-every 10m]
      N exposition endpoints (/metrics) on consecutive ports from --listen-base,
      M series each: counters that advance every scrape, gauges that change,
      classic histograms; stable label values, so N×M series stay active.
  loadgen sink [--listen 127.0.0.1:19999]
      a Prometheus remote-write 1.0 receiver at /api/v1/write (and /api/v1/push);
      GET /stats returns the counts as JSON, POST /reset zeroes them.
  loadgen logs --dir DIR [--files F] [--lines N] [--rate R] [--seed S]
      appends CRI-formatted container log lines (100-300 bytes: access logs, JSON,
      logfmt, klog errors on stderr) to F files DIR/<ns>_<pod>_<uid>/app/0.log,
      round-robin, at R lines/s in total or as fast as possible, until N lines are
      written (or, with a rate and no N, until stopped); prints a JSON summary.
  loadgen loki-sink [--listen 127.0.0.1:19998]
      a Loki push receiver at /loki/api/v1/push (snappy protobuf, or JSON);
      GET /stats returns the counts as JSON, POST /reset zeroes them.
  loadgen otlp-sink [--listen 127.0.0.1:4417] [--stats-listen 127.0.0.1:19997]
      an OTLP/gRPC trace receiver (gzip accepted) that counts spans and requests;
      GET /stats on --stats-listen returns the counts as JSON, POST /reset zeroes them.
  loadgen otlp-send --endpoint HOST:PORT [--rate R] [--duration D] [--spans N]
                    [--batch B] [--conns C] [--compression none|gzip]
      exports web-service-like traces (5 spans per trace, about 10 attributes per
      span, one resource per connection) over OTLP/gRPC in requests of B spans from
      C connections, at R spans/s in total or as fast as possible, for D or until N
      spans are sent; refusals are counted, not retried; prints a JSON summary.

Run "loadgen <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	switch args[0] {
	case "targets":
		return targetsCmd(ctx, args[1:], stderr, logger)
	case "sink":
		return sinkCmd(ctx, "sink", "127.0.0.1:19999", serveSink, args[1:], stderr, logger)
	case "loki-sink":
		return sinkCmd(ctx, "loki-sink", "127.0.0.1:19998", serveLokiSink, args[1:], stderr, logger)
	case "logs":
		return logsCmd(ctx, args[1:], stdout, stderr)
	case "otlp-sink":
		return otlpSinkCmd(ctx, args[1:], stderr, logger)
	case "otlp-send":
		return otlpSendCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func targetsCmd(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) int {
	fs := flag.NewFlagSet("loadgen targets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("listen-base", "127.0.0.1:20000", "address of the first target; target i listens on port+i")
	n := fs.Int("targets", 10, "number of targets (one port each)")
	m := fs.Int("series", 1000, "series per target")
	seed := fs.Uint64("seed", 1, "seed of the value generator (label values do not depend on it)")
	churnFraction := fs.Float64("churn", 0, "fraction of every target's series replaced every --churn-every (0.01: 1%)")
	churnEvery := fs.Duration("churn-every", 10*time.Minute, "how often --churn series are replaced")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen targets: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *n < 1 || *m < 1 {
		fmt.Fprintln(stderr, "loadgen targets: --targets and --series must be at least 1")
		return 2
	}
	if *churnFraction < 0 || *churnFraction > 1 || (*churnFraction > 0 && *churnEvery <= 0) {
		fmt.Fprintln(stderr, "loadgen targets: --churn must be between 0 and 1, --churn-every positive")
		return 2
	}
	if err := serveTargets(ctx, *base, *n, *m, *seed, *churnFraction, *churnEvery, logger); err != nil {
		logger.Error("targets stopped with an error", "err", err)
		return 1
	}
	return 0
}

// sinkCmd runs one of the receivers; they share their flags.
func sinkCmd(ctx context.Context, name, defaultListen string,
	serve func(ctx context.Context, listen string, maxBody int64, logger *slog.Logger) error,
	args []string, stderr io.Writer, logger *slog.Logger,
) int {
	fs := flag.NewFlagSet("loadgen "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", defaultListen, "listen address")
	maxBody := fs.Int64("max-body-bytes", 64<<20, "largest request body accepted (compressed and decoded)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen %s: unexpected arguments %q\n", name, fs.Args())
		return 2
	}
	if err := serve(ctx, *listen, *maxBody, logger); err != nil {
		logger.Error(name+" stopped with an error", "err", err)
		return 1
	}
	return 0
}

func logsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o logsOptions
	fs.StringVar(&o.dir, "dir", "", "directory laid out like /var/log/pods (created if missing)")
	fs.IntVar(&o.files, "files", 1, "container log files (one pod each)")
	fs.Int64Var(&o.lines, "lines", 0, "lines to write over all files; 0: until stopped (needs --rate)")
	fs.Float64Var(&o.rate, "rate", 0, "lines per second over all files; 0: as fast as possible")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the content and of the pod names")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "loadgen logs: unexpected arguments %q\n", fs.Args())
		return 2
	case o.dir == "":
		fmt.Fprintln(stderr, "loadgen logs: --dir is required")
		return 2
	case o.files < 1 || o.lines < 0 || o.rate < 0:
		fmt.Fprintln(stderr, "loadgen logs: --files must be at least 1, --lines and --rate not negative")
		return 2
	case o.lines == 0 && o.rate == 0:
		fmt.Fprintln(stderr, "loadgen logs: give --lines, --rate or both")
		return 2
	}
	sum, err := writeLogs(ctx, o, time.Now)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen logs: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(sum)
	return 0
}
