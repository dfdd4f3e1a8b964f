package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"time"
)

// maxLineBytes bounds one log line; the rest of a longer line is discarded (and counted).
// Loki refuses lines over 256 KiB by default.
const maxLineBytes = 256 << 10

// parseLine splits a line of the pods/log API with timestamps=true: "<RFC3339Nano> <text>".
func parseLine(line []byte) (ts time.Time, text []byte, ok bool) {
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		// An empty log line is sent as the timestamp alone.
		i = len(line)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(line[:i]))
	if err != nil {
		return time.Time{}, nil, false
	}
	if i < len(line) {
		text = line[i+1:]
	}
	return ts, text, true
}

// readLine returns the next line without its newline, at most max bytes of it (truncated
// reports that the rest was discarded). buf is reused for lines longer than the reader's
// buffer; next is the buffer to pass next time. At the end of the stream it returns the
// last unterminated line, if any, with the error.
func readLine(r *bufio.Reader, buf []byte, max int) (line, next []byte, truncated bool, err error) {
	b, err := r.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		line = b
		if err == nil {
			line = trimNewline(b)
		}
		if len(line) > max {
			return line[:max], buf, true, err
		}
		return line, buf, false, err
	}
	total := len(b)
	buf = append(buf[:0], b...)
	for errors.Is(err, bufio.ErrBufferFull) {
		b, err = r.ReadSlice('\n')
		total += len(b)
		if room := max + 1 - len(buf); room > 0 {
			buf = append(buf, b[:min(len(b), room)]...)
		}
	}
	content := total
	if err == nil {
		content-- // the newline
	}
	n := min(content, max, len(buf))
	return buf[:n], buf, content > max, err
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return b
}
