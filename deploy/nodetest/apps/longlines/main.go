// Command longlines logs identified lines (see package emit) whose bodies are mostly longer
// than the CRI runtime's 16 KiB line limit, so containerd writes them as partial (P) chunks
// that a log agent must rejoin, with short lines in between, on stdout and stderr. Each
// line carries its body's length and CRC-32 so a test can check the rejoined line byte for
// byte:
//
//	level=info app=longlines run=r1 inst=0a1b2c3d stream=stdout seq=000007 len=48213 crc32=89abcdef body=Qx3...
//
// The body is printable ASCII without spaces, derived from seq. On SIGTERM or SIGINT it
// stops, writes the final line with its totals and exits 0. Every flag can also be set from
// the environment (-run-id from RUN_ID, and so on).
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"

	"github.com/sondehq/sonde/deploy/nodetest/apps/internal/emit"
)

type config struct {
	rate          float64
	total         uint64
	runID         string
	stderrPercent int
	minBytes      int
	maxBytes      int
	shortEvery    uint64
	exitWhenDone  bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "longlines:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("longlines", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&c.rate, "rate", 10, "lines per second on both streams together")
	fs.Uint64Var(&c.total, "total", 0, "lines to write before the final line (0: until SIGTERM)")
	fs.StringVar(&c.runID, "run-id", "dev", "run id written on every line")
	fs.IntVar(&c.stderrPercent, "stderr-percent", 30, "share of the lines that go to stderr, 0..100")
	fs.IntVar(&c.minBytes, "min-bytes", 20<<10, "smallest body of a long line")
	fs.IntVar(&c.maxBytes, "max-bytes", 70<<10, "largest body of a long line")
	fs.Uint64Var(&c.shortEvery, "short-every", 3, "every this many lines is a short one (32..200 bytes; 0: none)")
	fs.BoolVar(&c.exitWhenDone, "exit-when-done", false, "exit after -total lines instead of waiting for SIGTERM")
	if err := emit.Parse(fs, args); err != nil {
		return err
	}
	if c.minBytes < 1 || c.maxBytes < c.minBytes {
		return fmt.Errorf("need 1 <= -min-bytes (%d) <= -max-bytes (%d)", c.minBytes, c.maxBytes)
	}

	w := emit.New("longlines", c.runID, c.stderrPercent, stdout, stderr)
	var buf []byte
	err := emit.Pace(ctx, c.rate, c.total, func() error {
		seq, s := w.Next()
		lo, hi := c.minBytes, c.maxBytes
		if c.shortEvery > 0 && seq%c.shortEvery == 0 {
			lo, hi = 32, 200
		}
		buf = appendBody(buf[:0], seq, lo, hi)
		return w.Line(seq, s, buf)
	})
	if err == nil {
		err = w.Final()
	}
	if err == nil && !c.exitWhenDone {
		<-ctx.Done()
	}
	return err
}

// alphabet is what bodies are made of: printable, no spaces, no quotes.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// appendBody appends "len=N crc32=HEX body=BODY" for seq to b; the body's length lies in lo..hi
// and its content is a function of seq alone.
func appendBody(b []byte, seq uint64, lo, hi int) []byte {
	r := rand.New(rand.NewPCG(seq, 0x5eed))
	n := lo + r.IntN(hi-lo+1)
	body := make([]byte, n)
	for i := range body {
		body[i] = alphabet[r.Uint32()&63]
	}
	b = fmt.Appendf(b, "len=%d crc32=%08x body=", n, crc32.ChecksumIEEE(body))
	return append(b, body...)
}
