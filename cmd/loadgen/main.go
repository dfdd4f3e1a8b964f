// Command loadgen is the load for sonde's comparison benchmark (bench/compare.sh): it serves
// many Prometheus exposition endpoints (targets) and receives what an agent remote-writes
// (sink), counting it. This file only wires subcommands, flags and signals.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `loadgen — load for agent benchmarks

Usage:
  loadgen targets [--listen-base 127.0.0.1:20000] [--targets N] [--series M] [--seed S]
      N exposition endpoints (/metrics) on consecutive ports from --listen-base,
      M series each: counters that advance every scrape, gauges that change,
      classic histograms; stable label values, so N×M series stay active.
  loadgen sink [--listen 127.0.0.1:19999]
      a Prometheus remote-write 1.0 receiver at /api/v1/write (and /api/v1/push);
      GET /stats returns the counts as JSON, POST /reset zeroes them.

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
		return sinkCmd(ctx, args[1:], stderr, logger)
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
	if err := serveTargets(ctx, *base, *n, *m, *seed, logger); err != nil {
		logger.Error("targets stopped with an error", "err", err)
		return 1
	}
	return 0
}

func sinkCmd(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) int {
	fs := flag.NewFlagSet("loadgen sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:19999", "listen address")
	maxBody := fs.Int64("max-body-bytes", 64<<20, "largest request body accepted (compressed and decoded)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen sink: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := serveSink(ctx, *listen, *maxBody, logger); err != nil {
		logger.Error("sink stopped with an error", "err", err)
		return 1
	}
	return 0
}
