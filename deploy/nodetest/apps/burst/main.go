// Command burst is a short-lived pod's program: it writes -lines identified lines (see
// package emit) to stdout and stderr as fast as it can (or at -rate), writes the final line
// with its totals, optionally lingers, and exits 0. SIGTERM or SIGINT cut it short the same
// way. Every flag can also be set from the environment (-run-id from RUN_ID, and so on).
//
//	level=info app=burst run=r1 inst=0a1b2c3d stream=stdout seq=000001 msg="job step done" step=1 pad=xxx
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sondehq/sonde/deploy/nodetest/apps/internal/emit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "burst:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		lines         uint64
		rate          float64
		runID         string
		stderrPercent int
		padBytes      int
		linger        time.Duration
	)
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&lines, "lines", 200, "lines to write before the final line")
	fs.Float64Var(&rate, "rate", 0, "lines per second (0: as fast as possible)")
	fs.StringVar(&runID, "run-id", "dev", "run id written on every line")
	fs.IntVar(&stderrPercent, "stderr-percent", 20, "share of the lines that go to stderr, 0..100")
	fs.IntVar(&padBytes, "pad", 200, "padding bytes per line")
	fs.DurationVar(&linger, "linger", 0, "time to stay up after the final line")
	if err := emit.Parse(fs, args); err != nil {
		return err
	}
	if lines == 0 {
		return fmt.Errorf("-lines must be at least 1")
	}
	pad := " pad=" + strings.Repeat("x", max(padBytes, 0))
	w := emit.New("burst", runID, stderrPercent, stdout, stderr)
	var b []byte
	err := emit.Pace(ctx, rate, lines, func() error {
		seq, s := w.Next()
		b = fmt.Appendf(b[:0], `msg="job step done" step=%d`, w.Lines())
		if padBytes > 0 {
			b = append(b, pad...)
		}
		return w.Line(seq, s, b)
	})
	if err == nil {
		err = w.Final()
	}
	if err == nil && linger > 0 {
		t := time.NewTimer(linger)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return err
}
