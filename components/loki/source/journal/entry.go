package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// Fields of journalctl's JSON output that the component reads.
const (
	fieldCursor   = "__CURSOR"
	fieldRealtime = "__REALTIME_TIMESTAMP"
	fieldMessage  = "MESSAGE"
)

// priorities are the keywords of the PRIORITY values 0 to 7 (syslog's, as journalctl -p
// names them).
var priorities = [...]string{"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"}

var errNoCursor = errors.New("no __CURSOR")

// record is one journal entry as journalctl's JSON output gives it.
type record struct {
	fields map[string]string
	binary int // fields that came as byte arrays (not UTF-8 text, or with control characters)
}

// parseRecord decodes one line of `journalctl --output=json`. Every value becomes a string:
// a text field as it is; a binary field (an array of byte values) as its bytes with invalid
// UTF-8 replaced; a field with several values (an array of them) as its first value; null
// (a field journalctl left out for its size, which --all prevents) as empty.
func parseRecord(line []byte) (record, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return record{}, err
	}
	r := record{fields: make(map[string]string, len(raw))}
	for k, v := range raw {
		s, binary, err := fieldValue(v)
		if err != nil {
			return record{}, err
		}
		if binary {
			r.binary++
		}
		r.fields[k] = s
	}
	if r.fields[fieldCursor] == "" {
		return record{}, errNoCursor
	}
	return r, nil
}

// fieldValue decodes one field's value.
func fieldValue(v json.RawMessage) (s string, binary bool, err error) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || string(v) == "null":
		return "", false, nil
	case v[0] == '"':
		err = json.Unmarshal(v, &s)
		return s, false, err
	case v[0] == '[':
		var bs []byte // an array of byte values (json decodes it element by element)
		if json.Unmarshal(v, &bs) == nil {
			return strings.ToValidUTF8(string(bs), "\uFFFD"), true, nil
		}
		var multi []json.RawMessage
		if err := json.Unmarshal(v, &multi); err != nil {
			return "", false, err
		}
		if len(multi) == 0 {
			return "", false, nil
		}
		return fieldValue(multi[0])
	default:
		return "", false, errors.New("unexpected value " + string(v[:min(len(v), 20)]))
	}
}

// timestamp returns the entry's __REALTIME_TIMESTAMP (microseconds since the epoch), or
// false when it has none that parses.
func (r record) timestamp() (time.Time, bool) {
	us, err := strconv.ParseInt(r.fields[fieldRealtime], 10, 64)
	if err != nil || us <= 0 {
		return time.Time{}, false
	}
	return time.UnixMicro(us), true
}

// line returns the line to send: the MESSAGE, or with asJSON every field as a JSON object
// (keys sorted); false when the entry has no MESSAGE (and asJSON is off).
func (r record) line(asJSON bool) (string, bool) {
	if asJSON {
		b, err := json.Marshal(r.fields) // strings only: it cannot fail
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	msg, ok := r.fields[fieldMessage]
	if !ok {
		return "", false
	}
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	return msg, true
}

// labelValue returns the value of a labels_from_fields label for the entry ("" when the
// entry lacks the field).
func (r record) labelValue(label string) string {
	v := r.fields[fieldOf[label]]
	if label == LabelLevel && v != "" {
		if p, err := strconv.Atoi(v); err == nil && p >= 0 && p < len(priorities) {
			return priorities[p]
		}
		return ""
	}
	if !model.LabelValue(v).IsValid() {
		return ""
	}
	return v
}

// labeler builds the label sets of the lines: one shared map per distinct combination of
// label values (pipeline.LogEntry's contract: maps are shared and never modified), at most
// maxLabelSets of them cached.
type labeler struct {
	static model.LabelSet // job and labels
	from   []string       // labels_from_fields
	cache  map[string]model.LabelSet
	key    []byte
}

// maxLabelSets bounds the cache; past it the cache starts over (the sets in flight stay
// valid: they are never modified).
const maxLabelSets = 4096

func newLabeler(job string, static map[string]string, from []string) *labeler {
	s := model.LabelSet{}
	if job != "" {
		s["job"] = model.LabelValue(job)
	}
	for k, v := range static {
		s[model.LabelName(k)] = model.LabelValue(v)
	}
	return &labeler{static: s, from: from, cache: map[string]model.LabelSet{}}
}

// labels returns the label set of r.
func (l *labeler) labels(r record) model.LabelSet {
	if len(l.from) == 0 {
		return l.static
	}
	l.key = l.key[:0]
	for _, name := range l.from {
		l.key = append(l.key, r.labelValue(name)...)
		l.key = append(l.key, 0)
	}
	if s, ok := l.cache[string(l.key)]; ok {
		return s
	}
	s := make(model.LabelSet, len(l.static)+len(l.from))
	for _, name := range l.from {
		if v := r.labelValue(name); v != "" {
			s[model.LabelName(name)] = model.LabelValue(v)
		}
	}
	for k, v := range l.static { // static labels win
		s[k] = v
	}
	if len(l.cache) >= maxLabelSets {
		clear(l.cache)
	}
	l.cache[string(l.key)] = s
	return s
}
