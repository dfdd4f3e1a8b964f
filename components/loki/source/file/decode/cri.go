package decode

import (
	"bytes"
	"time"
)

// cri decodes one CRI line: "<timestamp> <stdout|stderr> <P|F>[:tags] <message>".
// Like the kubelet's own parser, only a first tag of "P" marks a partial line; any other
// tag (F, or one a newer runtime invents) ends the line.
func (d *Decoder) cri(out []Entry, line []byte, off int64, cut bool, now time.Time) []Entry {
	ts, stream, part, msg, reason := parseCRI(line)
	if reason != reasonOK {
		d.Stats.Malformed[reason]++
		d.Stats.MalformedBytes += uint64(len(line))
		return out
	}
	if part {
		d.fragment(stream, ts, msg, off, cut, now)
		return out
	}
	return d.complete(out, stream, ts, msg, off, cut, now)
}

// parseCRI splits a CRI line into its fields; msg aliases line.
func parseCRI(line []byte) (ts time.Time, stream Stream, partial bool, msg []byte, reason Reason) {
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		return ts, 0, false, nil, ReasonCRIFields
	}
	ts, ok := ParseTimestamp(line[:i])
	if !ok {
		return ts, 0, false, nil, ReasonCRITimestamp
	}
	rest := line[i+1:]
	switch {
	case len(rest) >= 7 && string(rest[:7]) == "stdout ":
		stream = StreamStdout
	case len(rest) >= 7 && string(rest[:7]) == "stderr ":
		stream = StreamStderr
	case bytes.IndexByte(rest, ' ') < 0:
		return ts, 0, false, nil, ReasonCRIFields
	default:
		return ts, 0, false, nil, ReasonCRIStream
	}
	rest = rest[7:]
	// The tag field; runtimes always write a space after it, even before an empty message,
	// but a line cut right after the tag is accepted as an empty message too.
	tag := rest
	if j := bytes.IndexByte(rest, ' '); j >= 0 {
		tag, msg = rest[:j], rest[j+1:]
	}
	if len(tag) == 0 {
		return ts, 0, false, nil, ReasonCRIFields
	}
	partial = tag[0] == 'P' && (len(tag) == 1 || tag[1] == ':')
	return ts, stream, partial, msg, reasonOK
}
