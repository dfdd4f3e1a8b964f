package scrapemgr

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/value"
)

// textParser reads the Prometheus text format line by line. A sample line that starts with
// the series text the cache expects next (the same series at the same place as in the
// previous scrape) followed by a blank is read here: only its value and timestamp are
// parsed, with the same rules as Prometheus' parser. Every other line (comments, HELP and
// TYPE, new or moved series, anything unusual) goes to Prometheus' parser, one line at a
// time, so that its grammar, escaping and errors stay the authority.
//
// Why: Prometheus' lexer reads every byte of every label of every sample of every scrape,
// although a target's series rarely change; it was a quarter of the agent's CPU.
type textParser struct {
	b      []byte
	pos    int
	expect func() string // the series text the cache expects next; "" when none

	// The current entry: a fast sample line (line != nil && p == nil) or one delegated to
	// Prometheus' parser (p != nil).
	line   []byte
	series []byte
	val    float64
	ts     int64
	hasTS  bool
	p      textparse.Parser

	// typeLine is the last TYPE line: Prometheus' parser reads a series' labels in the
	// light of the last TYPE it saw (le and quantile values are normalised in histograms
	// and summaries), so a series line is handed over after it.
	typeLine []byte
	scratch  []byte
	restMode bool // t.p reads the rest of the body
}

var _ textparse.Parser = (*textParser)(nil)

func newTextParser(b []byte, expect func() string) *textParser {
	return &textParser{b: b, expect: expect}
}

// Next implements textparse.Parser.
func (t *textParser) Next() (textparse.Entry, error) {
	if t.restMode {
		return t.p.Next()
	}
	for t.pos < len(t.b) {
		if t.expect() == "" {
			// No guess left (a target's first scrape, or series beyond those of the last
			// one): Prometheus' parser reads the rest, as one body.
			return t.delegateRest()
		}
		rest := t.b[t.pos:]
		end := bytes.IndexByte(rest, '\n') + 1
		if end == 0 {
			end = len(rest)
		}
		line := rest[:end:end] // capped: the parser may append a newline, never into the next line
		t.line, t.p = line, nil
		if t.fast(line) {
			t.pos += end
			return textparse.EntrySeries, nil
		}
		// A quoted label value or name may hold a newline: the entry ends at the first
		// newline outside quotes.
		end = entryEnd(rest)
		line = rest[:end:end]
		t.line = line
		t.pos += end
		et, err := t.delegate(line)
		if errors.Is(err, io.EOF) {
			if len(bytes.TrimLeft(line, " \t\n")) == 0 {
				continue // a blank line
			}
			t.pos = len(t.b) // a NUL byte: Prometheus' lexer reads it as the end
			return textparse.EntryInvalid, io.EOF
		}
		if et == textparse.EntryType && err == nil {
			t.typeLine = line
		}
		return et, err
	}
	return textparse.EntryInvalid, io.EOF
}

// delegateRest hands the rest of the body to Prometheus' parser, after the last TYPE line.
func (t *textParser) delegateRest() (textparse.Entry, error) {
	t.restMode = true
	rest := t.b[t.pos:len(t.b):len(t.b)]
	t.pos = len(t.b)
	if t.typeLine == nil {
		t.p = textparse.NewPromParser(rest, nil, false)
		return t.p.Next()
	}
	buf := make([]byte, 0, len(t.typeLine)+len(rest))
	t.p = textparse.NewPromParser(append(append(buf, t.typeLine...), rest...), nil, false)
	if _, err := t.p.Next(); err != nil { // the TYPE line, read before
		return textparse.EntryInvalid, err
	}
	return t.p.Next()
}

// delegate hands line to Prometheus' parser, after the last TYPE line when the line is not
// a comment, and returns the line's entry.
func (t *textParser) delegate(line []byte) (textparse.Entry, error) {
	if t.typeLine == nil || bytes.HasPrefix(trimBlanks(line), []byte("#")) {
		t.p = textparse.NewPromParser(line, nil, false)
		return t.p.Next()
	}
	t.scratch = append(append(t.scratch[:0], t.typeLine...), line...)
	t.p = textparse.NewPromParser(t.scratch, nil, false)
	if _, err := t.p.Next(); err != nil { // the TYPE line, read before
		return textparse.EntryInvalid, err
	}
	return t.p.Next()
}

// fast reads line if it is the expected series' sample line in its plainest form.
func (t *textParser) fast(line []byte) bool {
	want := t.expect()
	if want == "" || len(line) <= len(want) || string(line[:len(want)]) != want {
		return false
	}
	rest := line[len(want):]
	if rest[0] != ' ' && rest[0] != '\t' {
		return false
	}
	rest = trimBlanks(rest)
	n := tokenEnd(rest)
	if n == 0 {
		return false
	}
	tok := rest[:n]
	if bytes.IndexByte(tok, '{') >= 0 || bytes.ContainsAny(tok, "pP_") {
		return false
	}
	v, err := strconv.ParseFloat(unsafe.String(&tok[0], len(tok)), 64) // the error is dropped: nothing keeps tok
	if err != nil {
		return false
	}
	if math.IsNaN(v) {
		v = math.Float64frombits(value.NormalNaN)
	}
	t.hasTS = false
	rest = trimBlanks(rest[n:])
	if len(rest) > 0 && rest[0] != '\n' {
		n = 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 {
			return false
		}
		ts, err := strconv.ParseInt(unsafe.String(&rest[0], n), 10, 64)
		if err != nil {
			return false
		}
		rest = trimBlanks(rest[n:])
		t.ts, t.hasTS = ts, true
	}
	if len(rest) > 1 || (len(rest) == 1 && rest[0] != '\n') {
		return false
	}
	t.series, t.val = line[:len(want)], v
	return true
}

// entryEnd is the length of the entry at the start of b, its newline included, as
// Prometheus' lexer reads it: a newline inside a quoted string (a label value, a quoted
// metric or label name, the quoted metric name of a HELP or TYPE line) does not end it.
// On malformed input it may take in more lines; Prometheus' parser then fails on the same
// token as it would have anyway.
func entryEnd(b []byte) int {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		nl = len(b) - 1
	}
	if bytes.IndexByte(b[:nl+1], '"') < 0 {
		return nl + 1
	}
	i := len(b) - len(trimBlanks(b))
	if i < len(b) && b[i] == '#' {
		j := i + 1
		k := len(b) - len(trimBlanks(b[j:]))
		if k == j { // "#" then no blank: a comment to the end of the line
			return nl + 1
		}
		if bytes.HasPrefix(b[k:], []byte("HELP")) || bytes.HasPrefix(b[k:], []byte("TYPE")) {
			m := k + 4
			if n := len(b) - len(trimBlanks(b[m:])); n > m && n < len(b) && b[n] == '"' {
				q := quotedEnd(b, n)
				if e := bytes.IndexByte(b[q:], '\n'); e >= 0 {
					return q + e + 1
				}
				return len(b)
			}
		}
		return nl + 1
	}
	for k := 0; k < len(b); k++ {
		switch b[k] {
		case '"':
			k = quotedEnd(b, k) - 1
		case '\n':
			return k + 1
		}
	}
	return len(b)
}

// quotedEnd is the index just after the quoted string that starts at b[i] ('"').
func quotedEnd(b []byte, i int) int {
	for k := i + 1; k < len(b); k++ {
		switch b[k] {
		case '\\':
			k++
		case '"':
			return k + 1
		}
	}
	return len(b)
}

func trimBlanks(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// tokenEnd is the length of the value token at the start of b: up to a blank or newline.
func tokenEnd(b []byte) int {
	for i, c := range b {
		if c == ' ' || c == '\t' || c == '\n' {
			return i
		}
	}
	return len(b)
}

// Series implements textparse.Parser.
func (t *textParser) Series() ([]byte, *int64, float64) {
	if t.p != nil {
		return t.p.Series()
	}
	if t.hasTS {
		return t.series, &t.ts, t.val
	}
	return t.series, nil, t.val
}

// Labels implements textparse.Parser; a fast line's labels come from Prometheus' parser.
func (t *textParser) Labels(l *labels.Labels) {
	if t.p == nil {
		if _, err := t.delegate(t.line); err != nil {
			*l = labels.EmptyLabels()
			return
		}
	}
	t.p.Labels(l)
}

// Histogram implements textparse.Parser: the text format has none.
func (t *textParser) Histogram() ([]byte, *int64, *histogram.Histogram, *histogram.FloatHistogram) {
	return nil, nil, nil, nil
}

// Help implements textparse.Parser.
func (t *textParser) Help() ([]byte, []byte) { return t.p.Help() }

// Type implements textparse.Parser.
func (t *textParser) Type() ([]byte, model.MetricType) { return t.p.Type() }

// Unit implements textparse.Parser.
func (t *textParser) Unit() ([]byte, []byte) { return t.p.Unit() }

// Comment implements textparse.Parser.
func (t *textParser) Comment() []byte { return t.p.Comment() }

// Exemplar implements textparse.Parser: the text format has none.
func (t *textParser) Exemplar(*exemplar.Exemplar) bool { return false }

// StartTimestamp implements textparse.Parser: the text format has none.
func (t *textParser) StartTimestamp() int64 { return 0 }
