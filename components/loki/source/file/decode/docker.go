package decode

import (
	"bytes"
	"encoding/binary"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// docker decodes one line of Docker's json-file driver:
// {"log":"text\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}.
// Docker splits lines longer than 16 KiB into chunks; every chunk but the last lacks the
// trailing "\n", so a "log" value without it continues on the next line of its stream.
func (d *Decoder) docker(out []Entry, line []byte, off int64, now time.Time) []Entry {
	msg, stream, ts, reason := d.parseDocker(line)
	if reason != reasonOK {
		d.Stats.Malformed[reason]++
		d.Stats.MalformedBytes += uint64(len(line))
		return out
	}
	n := len(msg)
	if n == 0 || msg[n-1] != '\n' {
		if n > 0 || d.parts[stream].active {
			d.fragment(stream, ts, msg, off, false, now)
		}
		return out
	}
	return d.complete(out, stream, ts, msg[:n-1], off, false, now)
}

// parseDocker extracts "log", "stream" and "time" from one JSON object; other keys are
// skipped, a repeated key counts once with its last value (as encoding/json does). msg
// aliases line when the value has no escapes and d.logBuf otherwise.
//
// Hand-written rather than encoding/json because it runs once per line: it does not
// allocate, and copies the log text only when it holds escapes.
func (d *Decoder) parseDocker(line []byte) (msg []byte, stream Stream, ts time.Time, reason Reason) {
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, 0, ts, ReasonDockerJSON
	}
	i = skipSpace(line, i+1)
	var haveLog, haveStream, haveTime, badStream, badTime bool
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			if i >= len(line) || line[i] != '"' {
				return nil, 0, ts, ReasonDockerJSON
			}
			key, next, ok := d.scanKey(line, i)
			if !ok {
				return nil, 0, ts, ReasonDockerJSON
			}
			i = skipSpace(line, next)
			if i >= len(line) || line[i] != ':' {
				return nil, 0, ts, ReasonDockerJSON
			}
			i = skipSpace(line, i+1)
			switch key {
			case keyStream, keyTime:
				if i < len(line) && line[i] != '"' {
					// Not a string: the object may still be well formed, but this field is bad.
					if i, ok = skipValue(line, i, 0); !ok {
						return nil, 0, ts, ReasonDockerJSON
					}
					if key == keyStream {
						haveStream, badStream = true, true
					} else {
						haveTime, badTime = true, true
					}
					break
				}
				fallthrough
			case keyLog:
				if i >= len(line) || line[i] != '"' {
					return nil, 0, ts, ReasonDockerJSON
				}
				// The log value goes to logBuf, the others to auxBuf, so that decoding
				// "stream" or "time" never overwrites an unescaped "log".
				var val []byte
				if key == keyLog {
					val, d.logBuf, i, ok = unquote(line, i, d.logBuf[:0])
				} else {
					val, d.auxBuf, i, ok = unquote(line, i, d.auxBuf[:0])
				}
				if !ok {
					return nil, 0, ts, ReasonDockerJSON
				}
				switch key {
				case keyLog:
					msg, haveLog = val, true
				case keyStream:
					haveStream = true
					switch string(val) {
					case "stdout":
						stream, badStream = StreamStdout, false
					case "stderr":
						stream, badStream = StreamStderr, false
					default:
						badStream = true
					}
				case keyTime:
					haveTime = true
					ts, ok = ParseTimestamp(val)
					badTime = !ok
				}
			default:
				if i, ok = skipValue(line, i, 0); !ok {
					return nil, 0, ts, ReasonDockerJSON
				}
			}
			i = skipSpace(line, i)
			if i >= len(line) {
				return nil, 0, ts, ReasonDockerJSON
			}
			if line[i] == '}' {
				i++
				break
			}
			if line[i] != ',' {
				return nil, 0, ts, ReasonDockerJSON
			}
			i = skipSpace(line, i+1)
		}
	}
	if skipSpace(line, i) != len(line) || !haveLog {
		return nil, 0, ts, ReasonDockerJSON
	}
	if !haveStream || badStream {
		return nil, 0, ts, ReasonDockerStream
	}
	if !haveTime || badTime {
		return nil, 0, ts, ReasonDockerTime
	}
	return msg, stream, ts, reasonOK
}

const (
	keyOther = iota
	keyLog
	keyStream
	keyTime
)

// scanKey reads the object key starting at the quote at i.
func (d *Decoder) scanKey(line []byte, i int) (key int, next int, ok bool) {
	var kb [8]byte
	val, _, next, ok := unquote(line, i, kb[:0])
	if !ok {
		return 0, 0, false
	}
	switch string(val) {
	case "log":
		return keyLog, next, true
	case "stream":
		return keyStream, next, true
	case "time":
		return keyTime, next, true
	}
	return keyOther, next, true
}

// unquote reads the JSON string whose opening quote is at line[i]. It returns the value
// (aliasing line when there is no escape, else appended to buf), buf, and the index after
// the closing quote. Escapes are decoded as encoding/json does, invalid surrogates included
// (they become U+FFFD); control characters are rejected. Quotes and backslashes are found
// with bytes.IndexByte (vectorised), control characters eight bytes at a time.
func unquote(line []byte, i int, buf []byte) (val, outBuf []byte, next int, ok bool) {
	start := i + 1
	rest := line[start:]
	q := bytes.IndexByte(rest, '"')
	if q < 0 {
		return nil, buf, 0, false
	}
	b := bytes.IndexByte(rest[:q], '\\')
	if b < 0 {
		if hasControl(rest[:q]) {
			return nil, buf, 0, false
		}
		return rest[:q], buf, start + q + 1, true
	}
	// Slow path: copy the runs between escapes and decode the escapes.
	base := len(buf)
	j := start
	for {
		rest = line[j:]
		q = bytes.IndexByte(rest, '"')
		if q < 0 {
			return nil, buf, 0, false
		}
		b = bytes.IndexByte(rest[:q], '\\')
		if b < 0 {
			if hasControl(rest[:q]) {
				return nil, buf, 0, false
			}
			buf = append(buf, rest[:q]...)
			return buf[base:], buf, j + q + 1, true
		}
		if hasControl(rest[:b]) {
			return nil, buf, 0, false
		}
		buf = append(buf, rest[:b]...)
		j += b // at the backslash
		if j+1 >= len(line) {
			return nil, buf, 0, false
		}
		switch line[j+1] {
		case '"', '\\', '/':
			buf = append(buf, line[j+1])
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := hex4(line, j+2)
			if r < 0 {
				return nil, buf, 0, false
			}
			j += 6
			if utf16.IsSurrogate(r) {
				if j+1 < len(line) && line[j] == '\\' && line[j+1] == 'u' {
					if r2 := hex4(line, j+2); r2 >= 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							j += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return nil, buf, 0, false
		}
		j += 2
	}
}

// hasControl reports whether b holds a byte below 0x20, which JSON strings may not.
func hasControl(b []byte) bool {
	const highs, limit = 0x8080808080808080, 0x2020202020202020
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		// A byte below 0x20 borrows in x-limit while its own high bit is clear.
		if (x-limit)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// hex4 decodes the four hex digits at line[i:], or returns -1.
func hex4(line []byte, i int) rune {
	if i+4 > len(line) {
		return -1
	}
	var r rune
	for _, c := range line[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// skipString skips the JSON string whose opening quote is at line[i], checking its escapes
// without decoding them.
func skipString(line []byte, i int) (int, bool) {
	for j := i + 1; j < len(line); j++ {
		switch c := line[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			if j+1 >= len(line) {
				return 0, false
			}
			switch line[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if hex4(line, j+2) < 0 {
					return 0, false
				}
				j += 5
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipNumber skips the JSON number at line[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(line []byte, i int) (int, bool) {
	digits := func(j int) int {
		for j < len(line) && line[j] >= '0' && line[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(line) && line[i] == '-' {
		i++
	}
	switch {
	case i < len(line) && line[i] == '0':
		i++
	case i < len(line) && line[i] >= '1' && line[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(line) && line[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(line) && (line[i] == 'e' || line[i] == 'E') {
		i++
		if i < len(line) && (line[i] == '+' || line[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// maxDepth bounds the nesting of skipped values, so that a hostile line cannot exhaust the
// stack.
const maxDepth = 10000 // encoding/json's own limit

// skipValue skips the JSON value at line[i] (an unknown key's, e.g. Docker's "attrs").
func skipValue(line []byte, i, depth int) (int, bool) {
	if i >= len(line) || depth > maxDepth {
		return 0, false
	}
	switch c := line[i]; {
	case c == '"':
		return skipString(line, i)
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipSpace(line, i+1)
		if i < len(line) && line[i] == closing {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(line) || line[i] != '"' {
					return 0, false
				}
				var ok bool
				if i, ok = skipString(line, i); !ok {
					return 0, false
				}
				i = skipSpace(line, i)
				if i >= len(line) || line[i] != ':' {
					return 0, false
				}
				i = skipSpace(line, i+1)
			}
			var ok bool
			if i, ok = skipValue(line, i, depth+1); !ok {
				return 0, false
			}
			i = skipSpace(line, i)
			if i >= len(line) {
				return 0, false
			}
			if line[i] == closing {
				return i + 1, true
			}
			if line[i] != ',' {
				return 0, false
			}
			i = skipSpace(line, i+1)
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(line)-i >= len(lit) && string(line[i:i+len(lit)]) == lit {
				return i + len(lit), true
			}
		}
		return 0, false
	default:
		return skipNumber(line, i)
	}
}
