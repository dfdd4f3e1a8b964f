package write

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/prometheus/common/model"
)

// indexTemplate is a parsed index argument: literal text, date fields of the entry's UTC
// timestamp, and label values.
type indexTemplate struct {
	parts []indexPart
	// labelsOnly: no date field, so the name depends on the labels only.
	labelsOnly bool
}

type indexPart struct {
	kind   byte   // 0 literal, 'Y', 'm', 'd', 'H' a date field, 'l' a label
	text   string // the literal, or the label name
	def    string // a label's default (sanitized)
	hasDef bool
}

// maxIndexName is Elasticsearch's limit on an index name, in bytes.
const maxIndexName = 255

// parseIndex parses an index template (see Arguments.Index).
func parseIndex(s string) (*indexTemplate, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	t := &indexTemplate{labelsOnly: true}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, indexPart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			if i+1 == len(s) {
				return nil, fmt.Errorf("%q ends with a lone %%: use %%Y, %%m, %%d, %%H or %%%%", s)
			}
			i++
			switch f := s[i]; f {
			case '%':
				lit.WriteByte('%')
			case 'Y', 'm', 'd', 'H':
				flush()
				t.parts = append(t.parts, indexPart{kind: f})
				t.labelsOnly = false
			default:
				return nil, fmt.Errorf("%q: unknown date field %%%c: use %%Y, %%m, %%d, %%H or %%%%", s, f)
			}
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q: { without }", s)
			}
			name, def, hasDef := strings.Cut(s[i+1:i+end], ":-")
			if !model.LabelName(name).IsValidLegacy() {
				return nil, fmt.Errorf("%q: {%s} is not a label name", s, name)
			}
			flush()
			t.parts = append(t.parts, indexPart{kind: 'l', text: name, def: sanitize(def), hasDef: hasDef})
			i += end
		case '}':
			return nil, fmt.Errorf("%q: } without {", s)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	// The literal text must make a valid name on its own; label values are sanitized.
	var probe []byte
	for _, p := range t.parts {
		if p.kind == 0 {
			probe = append(probe, p.text...)
		} else {
			probe = append(probe, 'x')
		}
	}
	if err := checkIndexName(string(probe)); err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	return t, nil
}

// checkIndexName applies Elasticsearch's rules on index names to the template's literal text.
func checkIndexName(s string) error {
	switch {
	case strings.ToLower(s) != s:
		return errors.New("index names are lowercase")
	case strings.ContainsAny(s, `\/*?"<>| ,#:`):
		return errors.New(`index names cannot hold \ / * ? " < > | space , # :`)
	case strings.IndexFunc(s, func(r rune) bool { return r < 0x20 }) >= 0:
		return errors.New("index names cannot hold control characters")
	case s != "" && strings.ContainsRune("-_+", rune(s[0])):
		return errors.New("index names cannot start with -, _ or +")
	case s == "." || s == "..":
		return errors.New("index names cannot be . or ..")
	case len(s) > maxIndexName:
		return fmt.Errorf("index names are at most %d bytes", maxIndexName)
	}
	return nil
}

// hasDate reports whether the name depends on the entry's timestamp.
func (t *indexTemplate) hasDate() bool { return !t.labelsOnly }

// sanitize makes a label value fit in an index name: lowercase, with the characters an
// index name cannot hold replaced by _.
func sanitize(v string) string {
	ok := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= 0x80 || !validIndexByte(c) || (c >= 'A' && c <= 'Z') {
			ok = false
			break
		}
	}
	if ok {
		return v
	}
	b := make([]byte, 0, len(v))
	for _, r := range strings.ToLower(v) {
		if r >= 0x80 || !validIndexByte(byte(r)) {
			b = append(b, '_')
			continue
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func validIndexByte(c byte) bool {
	return c >= 0x20 && !strings.ContainsRune(`\/*?"<>| ,#:`, rune(c))
}

// indexNamer renders the template for entries, caching the last name: consecutive entries
// of one stream (one label map) in the same hour share it. Not safe for concurrent use.
type indexNamer struct {
	t *indexTemplate

	lastLabels unsafe.Pointer // the label map of the cached name
	lastHour   int64          // the UTC hour of the cached name (unused when labelsOnly)
	lastName   string
	buf        []byte
}

func newIndexNamer(t *indexTemplate) *indexNamer { return &indexNamer{t: t} }

// name returns the index of an entry with these labels and this timestamp. A name that
// comes out invalid (a label value made it start with - or grow past 255 bytes) is
// returned all the same: Elasticsearch refuses the document, which is counted.
func (n *indexNamer) name(ls model.LabelSet, ts time.Time) string {
	ts = ts.UTC()
	hour := ts.Unix() / 3600
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(&ls))
	if n.lastName != "" && ptr == n.lastLabels && (n.t.labelsOnly || hour == n.lastHour) {
		return n.lastName
	}
	b := n.buf[:0]
	for _, p := range n.t.parts {
		switch p.kind {
		case 0:
			b = append(b, p.text...)
		case 'Y':
			b = appendInt(b, ts.Year(), 4)
		case 'm':
			b = appendInt(b, int(ts.Month()), 2)
		case 'd':
			b = appendInt(b, ts.Day(), 2)
		case 'H':
			b = appendInt(b, ts.Hour(), 2)
		case 'l':
			v, ok := ls[model.LabelName(p.text)]
			switch {
			case ok && v != "":
				b = append(b, sanitize(string(v))...)
			case p.hasDef:
				b = append(b, p.def...)
			}
		}
	}
	n.buf = b
	if string(b) != n.lastName { // keep the string when only the hour changed
		n.lastName = string(b)
	}
	n.lastLabels, n.lastHour = ptr, hour
	return n.lastName
}

// appendInt appends v with at least width digits.
func appendInt(b []byte, v, width int) []byte {
	var d [8]byte
	i := len(d)
	for v > 0 || i > len(d)-width {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if i == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
