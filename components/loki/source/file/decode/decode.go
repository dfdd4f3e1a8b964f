// Package decode turns the physical lines of container log files into log entries: CRI
// (containerd, CRI-O), Docker json-file and raw text. It rejoins the lines that runtimes
// split (CRI "P" fragments, Docker 16 KiB chunks) per stream, with a size bound and a flush
// for fragments that never get their end.
//
// A Decoder belongs to one file and is used by one goroutine at a time; it never joins text
// of two files or of two streams. It allocates nothing per line except the string of each
// entry it emits.
package decode

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Format is the layout of a log file.
type Format uint8

// Formats.
const (
	// FormatAuto decides per file from its first line: CRI, then Docker json-file, else raw.
	FormatAuto Format = iota
	// FormatCRI is "<RFC3339Nano> <stdout|stderr> <P|F>[:tags] <message>" (containerd, CRI-O).
	FormatCRI
	// FormatDocker is Docker's json-file: {"log":"…","stream":"stdout","time":"…"}.
	FormatDocker
	// FormatRaw is one entry per line, timestamped when read.
	FormatRaw
)

var formatNames = [...]string{FormatAuto: "auto", FormatCRI: "cri", FormatDocker: "docker", FormatRaw: "raw"}

// String returns the name used in configuration.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("format(%d)", f)
}

// ParseFormat parses a configuration name (auto, cri, docker, raw).
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if s == name {
			return Format(f), nil
		}
	}
	return 0, fmt.Errorf("unknown format %q (want auto, cri, docker or raw)", s)
}

// Stream is the output stream a line was written to.
type Stream uint8

// Streams; StreamNone is for raw files.
const (
	StreamNone Stream = iota
	StreamStdout
	StreamStderr
	numStreams
)

// String returns the value of the stream label ("" for StreamNone).
func (s Stream) String() string {
	switch s {
	case StreamStdout:
		return "stdout"
	case StreamStderr:
		return "stderr"
	}
	return ""
}

// Reason says why a line was malformed; it is the reason label of the malformed counter.
type Reason uint8

// Reasons for malformed lines.
const (
	ReasonCRIFields    Reason = iota // fewer than the four space-separated CRI fields
	ReasonCRITimestamp               // the first CRI field is not an RFC 3339 timestamp
	ReasonCRIStream                  // the second CRI field is neither stdout nor stderr
	ReasonDockerJSON                 // not one JSON object, or no string "log"
	ReasonDockerStream               // "stream" missing or neither stdout nor stderr
	ReasonDockerTime                 // "time" missing or not an RFC 3339 timestamp
	NumReasons
)

var reasonNames = [NumReasons]string{
	ReasonCRIFields:    "cri_fields",
	ReasonCRITimestamp: "cri_timestamp",
	ReasonCRIStream:    "cri_stream",
	ReasonDockerJSON:   "docker_json",
	ReasonDockerStream: "docker_stream",
	ReasonDockerTime:   "docker_time",
}

// String returns the reason label value.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", r)
}

// Entry is one decoded log line.
type Entry struct {
	Time   time.Time // the runtime's timestamp (of the first fragment); raw: when read
	Stream Stream
	Line   string // without the trailing newline
	// Truncated is set when the line was longer than the bound and was cut.
	Truncated bool
	// Incomplete is set when a partial line was flushed before its end arrived.
	Incomplete bool
}

// Stats counts what a Decoder did; callers read and reset it.
type Stats struct {
	Lines          uint64 // physical lines seen
	Malformed      [NumReasons]uint64
	MalformedBytes uint64 // bytes of the malformed lines
	Truncated      uint64 // entries cut at the bound
	TruncatedBytes uint64 // bytes dropped by cutting
	Flushed        uint64 // partial lines emitted without their end
}

// Config configures a Decoder.
type Config struct {
	Format Format
	// MaxLineSize bounds an entry (a rejoined line included) in bytes; longer lines are cut
	// at a UTF-8 boundary and counted. At least 1.
	MaxLineSize int
}

// Decoder decodes the lines of one file.
type Decoder struct {
	format Format
	max    int
	parts  [numStreams]partial
	// Stats is updated by every call; the caller may read and reset it between calls.
	Stats Stats
	// logBuf holds the unescaped "log" value of a Docker line, auxBuf the other values.
	logBuf, auxBuf []byte
}

// partial is a line being rejoined on one stream.
type partial struct {
	active    bool
	buf       []byte
	time      time.Time // timestamp of the first fragment
	start     int64     // file offset of the first fragment's line
	since     time.Time // wall clock when the first fragment was decoded
	truncated bool
}

// New returns a decoder.
func New(cfg Config) *Decoder {
	if cfg.MaxLineSize < 1 {
		cfg.MaxLineSize = 1
	}
	return &Decoder{format: cfg.Format, max: cfg.MaxLineSize}
}

// Format returns the file's format: FormatAuto until an auto decoder has seen a line.
func (d *Decoder) Format() Format { return d.format }

// Line decodes one physical line (without its newline) that starts at file offset off and
// appends the entries it completes to out. cut says the line was longer than the reader's
// buffer and line holds only its beginning. now is the wall clock, used to time partial
// lines and to stamp raw lines.
func (d *Decoder) Line(out []Entry, line []byte, off int64, cut bool, now time.Time) []Entry {
	d.Stats.Lines++
	if d.format == FormatAuto {
		d.format = detect(line)
	}
	switch d.format {
	case FormatCRI:
		return d.cri(out, line, off, cut, now)
	case FormatDocker:
		return d.docker(out, line, off, now)
	default:
		return d.complete(out, StreamNone, now, line, off, cut, now)
	}
}

// detect picks the format of a file from its first line.
func detect(line []byte) Format {
	if _, _, _, _, r := parseCRI(line); r == reasonOK {
		return FormatCRI
	}
	if len(line) > 0 && line[0] == '{' {
		var d Decoder
		if _, _, _, r := d.parseDocker(line); r == reasonOK {
			return FormatDocker
		}
	}
	return FormatRaw
}

// reasonOK is the Reason value meaning "not malformed".
const reasonOK = NumReasons

// fragment adds a piece of a line that continues on the next line of the same stream.
func (d *Decoder) fragment(s Stream, ts time.Time, msg []byte, off int64, cut bool, now time.Time) {
	p := &d.parts[s]
	if !p.active {
		p.active, p.time, p.start, p.since, p.truncated = true, ts, off, now, false
		p.buf = p.buf[:0]
	}
	d.appendBounded(p, msg, cut)
}

// complete adds the last piece of a line and appends the entry.
func (d *Decoder) complete(out []Entry, s Stream, ts time.Time, msg []byte, off int64, cut bool, now time.Time) []Entry {
	p := &d.parts[s]
	if !p.active {
		// The common case: a whole line, no rejoining.
		e := Entry{Time: ts, Stream: s}
		if len(msg) > d.max {
			d.Stats.TruncatedBytes += uint64(len(msg))
			msg = cutUTF8(msg, d.max)
			d.Stats.TruncatedBytes -= uint64(len(msg))
			cut = true
		}
		if cut {
			e.Truncated = true
			d.Stats.Truncated++
		}
		e.Line = string(msg)
		return append(out, e)
	}
	d.appendBounded(p, msg, cut)
	return d.emit(out, s, false)
}

// appendBounded appends msg to p, cutting at the bound.
func (d *Decoder) appendBounded(p *partial, msg []byte, cut bool) {
	if p.truncated {
		// Once cut, the rest of the line is dropped, even fragments that would still fit.
		d.Stats.TruncatedBytes += uint64(len(msg))
		return
	}
	if room := d.max - len(p.buf); len(msg) > room {
		kept := cutUTF8(msg, max(room, 0))
		d.Stats.TruncatedBytes += uint64(len(msg) - len(kept))
		msg, cut = kept, true
	}
	p.buf = append(p.buf, msg...)
	p.truncated = p.truncated || cut
}

// emit appends the partial line of stream s as an entry and clears it.
func (d *Decoder) emit(out []Entry, s Stream, incomplete bool) []Entry {
	p := &d.parts[s]
	e := Entry{Time: p.time, Stream: s, Line: string(p.buf), Truncated: p.truncated, Incomplete: incomplete}
	if p.truncated {
		d.Stats.Truncated++
	}
	if incomplete {
		d.Stats.Flushed++
	}
	p.active = false
	if cap(p.buf) > 4*d.max+64<<10 {
		p.buf = nil // a bound change left an oversized buffer behind
	} else {
		p.buf = p.buf[:0]
	}
	return append(out, e)
}

// Pending reports whether a partial line is buffered and, if so, since when (the wall
// clock of the oldest one's first fragment).
func (d *Decoder) Pending() (since time.Time, ok bool) {
	for i := range d.parts {
		p := &d.parts[i]
		if p.active && (!ok || p.since.Before(since)) {
			since, ok = p.since, true
		}
	}
	return since, ok
}

// FlushBefore emits the partial lines whose first fragment was decoded at or before
// deadline, marked Incomplete.
func (d *Decoder) FlushBefore(out []Entry, deadline time.Time) []Entry {
	for s := range d.parts {
		if p := &d.parts[s]; p.active && !p.since.After(deadline) {
			out = d.emit(out, Stream(s), true)
		}
	}
	return out
}

// Flush emits every partial line, marked Incomplete: the file ends (it is released,
// truncated, or its format changes) and no end will come.
func (d *Decoder) Flush(out []Entry) []Entry {
	for s := range d.parts {
		if d.parts[s].active {
			out = d.emit(out, Stream(s), true)
		}
	}
	return out
}

// Safe returns the file offset up to which everything read has been emitted: consumed
// (the offset after the last decoded line), or the start of the oldest partial line still
// buffered. Re-reading from Safe after a restart loses nothing.
func (d *Decoder) Safe(consumed int64) int64 {
	safe := consumed
	for i := range d.parts {
		if p := &d.parts[i]; p.active && p.start < safe {
			safe = p.start
		}
	}
	return safe
}

// cutUTF8 returns the longest prefix of b of at most n bytes that does not end inside a
// UTF-8 sequence.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	// Step back over at most 3 continuation bytes to the start of the last sequence and
	// drop it when it is incomplete.
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}
