// Package emit writes the identified log lines that the node-test apps share: every line
// carries the app, a run id, an instance id (new at every process start), its stream and a
// sequence number of its stream, so a test can prove each line arrived once.
//
// A line looks like
//
//	level=info app=demo run=r1 inst=0a1b2c3d stream=stdout seq=000123 msg="..." ...
//
// and the last one an instance writes (on stdout, with no seq) like
//
//	level=info app=demo run=r1 inst=0a1b2c3d stream=stdout msg=final total_stdout=98 total_stderr=25
//
// Each stream numbers its lines from 1: an instance's stdout lines are exactly seq
// 1..total_stdout and its stderr lines seq 1..total_stderr.
package emit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
)

// Stream is the standard stream a line goes to.
type Stream int

// The two streams.
const (
	Stdout Stream = iota
	Stderr
)

// String returns "stdout" or "stderr", as lines and metric labels spell it.
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Writer numbers lines, picks their stream and writes each as one Write call. It is used
// by one goroutine; Count is safe from any goroutine.
type Writer struct {
	app, run, inst string
	stderrPercent  int
	prefix         [2][]byte
	out            [2]io.Writer
	n              uint64
	seq            [2]uint64
	counts         [2]atomic.Uint64
	bytes          [2]atomic.Uint64
	buf            []byte
	final          bool
}

// New returns a Writer for app and run with a fresh instance id; stderrPercent of the
// lines (0..100, spread evenly) go to stderr, the rest to stdout.
func New(app, run string, stderrPercent int, stdout, stderr io.Writer) *Writer {
	w := &Writer{app: app, run: run, inst: NewInst(), stderrPercent: min(max(stderrPercent, 0), 100),
		out: [2]io.Writer{stdout, stderr}}
	for s, level := range [2]string{"info", "warn"} {
		w.prefix[s] = fmt.Appendf(nil, "level=%s app=%s run=%s inst=%s stream=%s seq=", level, app, run, w.inst, Stream(s))
	}
	return w
}

// NewInst returns a random 8-hex-digit instance id.
func NewInst() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// Inst is this process's instance id.
func (w *Writer) Inst() string { return w.inst }

// Next picks the next line's stream and returns it with the line's sequence number in that
// stream.
func (w *Writer) Next() (uint64, Stream) {
	w.n++
	s := Stdout
	// Bresenham: stderr whenever n*p/100 steps up, so any 100 lines hold exactly p on stderr.
	if w.n*uint64(w.stderrPercent)/100 != (w.n-1)*uint64(w.stderrPercent)/100 {
		s = Stderr
	}
	w.seq[s]++
	return w.seq[s], s
}

// Lines returns how many lines Next has numbered, both streams together.
func (w *Writer) Lines() uint64 { return w.n }

// Line writes "<prefix>seq=%06d <rest>\n" to stream s as one Write and counts it once the
// write succeeded.
func (w *Writer) Line(seq uint64, s Stream, rest []byte) error {
	b := append(w.buf[:0], w.prefix[s]...)
	b = appendSeq(b, seq)
	b = append(b, ' ')
	b = append(b, rest...)
	b = append(b, '\n')
	w.buf = b
	if _, err := w.out[s].Write(b); err != nil {
		return fmt.Errorf("write %s: %w", s, err)
	}
	w.counts[s].Add(1)
	w.bytes[s].Add(uint64(len(b)))
	return nil
}

// Count returns how many lines were written to s.
func (w *Writer) Count(s Stream) uint64 { return w.counts[s].Load() }

// Bytes returns how many bytes (newlines included) were written to s.
func (w *Writer) Bytes(s Stream) uint64 { return w.bytes[s].Load() }

// Final writes the final line with both totals on stdout; only the first call writes.
func (w *Writer) Final() error {
	if w.final {
		return nil
	}
	w.final = true
	line := fmt.Sprintf("level=info app=%s run=%s inst=%s stream=stdout msg=final total_stdout=%d total_stderr=%d\n",
		w.app, w.run, w.inst, w.Count(Stdout), w.Count(Stderr))
	if _, err := io.WriteString(w.out[Stdout], line); err != nil {
		return fmt.Errorf("write final line: %w", err)
	}
	return nil
}

// appendSeq appends seq as at least six zero-padded digits.
func appendSeq(b []byte, seq uint64) []byte {
	var d [20]byte
	s := strconv.AppendUint(d[:0], seq, 10)
	for i := len(s); i < 6; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
