package write

import (
	"slices"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/sondehq/sonde/pipeline"
)

// The document of one entry (fields in this order):
//
//	{"@timestamp":"2024-03-05T07:08:09.123456789Z","message":"the line",
//	 "labels":{"namespace":"shop","pod":"web-1"},"metadata":{"trace_id":"…"}}
//
// labels holds the stream labels and metadata the structured metadata; either is left out
// when empty. The timestamp is RFC 3339 in UTC with up to nanoseconds (Elasticsearch's
// date type keeps milliseconds, date_nanos all of it).
const (
	fieldTimestamp = "@timestamp"
	fieldMessage   = "message"
	fieldLabels    = "labels"
	fieldMetadata  = "metadata"
)

// docEncoder writes the action and source lines of entries. It caches the JSON of the
// last label map it saw: the entries of a stream share theirs. Not safe for concurrent use.
type docEncoder struct {
	op    string // "index" or "create"
	namer *indexNamer

	lastLabels unsafe.Pointer
	labelsJSON []byte
	names      []string // reused to sort label names
}

func newDocEncoder(t *indexTemplate, dataStream bool) *docEncoder {
	op := "index"
	if dataStream {
		op = "create" // the only operation a data stream takes
	}
	return &docEncoder{op: op, namer: newIndexNamer(t)}
}

// appendEntry appends e's action line and source line (each ending in \n) to b.
func (d *docEncoder) appendEntry(b []byte, e *pipeline.LogEntry) []byte {
	b = append(b, `{"`...)
	b = append(b, d.op...)
	b = append(b, `":{"_index":`...)
	b = appendString(b, d.namer.name(e.Labels, e.Timestamp))
	b = append(b, "}}\n"...)

	b = append(b, `{"`+fieldTimestamp+`":"`...)
	b = e.Timestamp.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","`+fieldMessage+`":`...)
	b = appendString(b, e.Line)
	if len(e.Labels) > 0 {
		b = append(b, `,"`+fieldLabels+`":`...)
		b = append(b, d.labels(e.Labels)...)
	}
	if !e.StructuredMetadata.IsEmpty() {
		b = append(b, `,"`+fieldMetadata+`":{`...)
		first := true
		e.StructuredMetadata.Range(func(l labels.Label) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, l.Name)
			b = append(b, ':')
			b = appendString(b, l.Value)
		})
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

// labels returns the JSON object of ls, names sorted.
func (d *docEncoder) labels(ls model.LabelSet) []byte {
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(&ls))
	if ptr == d.lastLabels && d.labelsJSON != nil {
		return d.labelsJSON
	}
	d.names = d.names[:0]
	for n := range ls {
		d.names = append(d.names, string(n))
	}
	slices.Sort(d.names)
	b := append(d.labelsJSON[:0], '{')
	for i, n := range d.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, n)
		b = append(b, ':')
		b = appendString(b, string(ls[model.LabelName(n)]))
	}
	d.labelsJSON = append(b, '}')
	d.lastLabels = ptr
	return d.labelsJSON
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; <, > and & are left as they are (no HTML escaping).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' { // valid JSON, but not in JavaScript
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
