package process

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/sondehq/sonde/pipeline"
)

// JSONConfig configures the json stage.
//
//   - json:
//     expressions: {level: "", user: "req.user.name", first_tag: "tags[0]"}
//     source: payload
type JSONConfig struct {
	// Expressions maps extracted names to field paths: "a.b.c", "a[0].b", `"key.with.dots"`;
	// an empty path means the field named like the extracted value. These are the field
	// paths of JMESPath; its functions, projections and filters are not supported.
	// Strings are extracted unescaped, numbers and booleans as written, objects and arrays
	// as their JSON text; null extracts nothing.
	Expressions map[string]string `yaml:"expressions"`
	// Source is the extracted value to parse instead of the line.
	Source string `yaml:"source,omitempty"`
	// DropMalformed drops entries that are not a JSON object (reason "malformed_json").
	DropMalformed bool `yaml:"drop_malformed,omitempty"`
}

// jsonNode is one step of the expression paths, shared between expressions with the same
// prefix, so that the line is walked once for all of them.
type jsonNode struct {
	key      string // object key; for an index step, the index
	index    int
	isIndex  bool
	slots    []int // expressions that end here
	children []*jsonNode
}

func (n *jsonNode) child(key string, index int, isIndex bool) *jsonNode {
	for _, c := range n.children {
		if c.isIndex == isIndex && c.key == key && c.index == index {
			return c
		}
	}
	c := &jsonNode{key: key, index: index, isIndex: isIndex}
	n.children = append(n.children, c)
	return c
}

type jsonStage struct {
	root          *jsonNode
	source        int // -1: the line
	dropMalformed bool
}

func (c *JSONConfig) compile(comp *compiler) (stage, error) {
	var errs []error
	if len(c.Expressions) == 0 {
		errs = append(errs, pipeline.Field("expressions", "at least one expression is required"))
	}
	st := &jsonStage{root: &jsonNode{}, source: -1, dropMalformed: c.DropMalformed}
	names := make([]string, 0, len(c.Expressions))
	for name := range c.Expressions {
		names = append(names, name)
	}
	sort.Strings(names) // stable slot numbers and error order
	for _, name := range names {
		expr := c.Expressions[name]
		if name == "" {
			errs = append(errs, pipeline.Field("expressions", "empty extracted name"))
			continue
		}
		steps := []pathStep{{key: name}} // an empty expression names the field itself
		if expr != "" {
			var err error
			if steps, err = parseJSONPath(expr); err != nil {
				errs = append(errs, pipeline.Field("expressions."+name, "%q: %v", expr, err))
				continue
			}
		}
		n := st.root
		for _, s := range steps {
			n = n.child(s.key, s.index, s.isIndex)
		}
		n.slots = append(n.slots, comp.slot(name))
	}
	if c.Source != "" {
		st.source = comp.slot(c.Source)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return st, nil
}

type pathStep struct {
	key     string
	index   int
	isIndex bool
}

// parseJSONPath parses the JMESPath field-path subset: identifiers or quoted identifiers
// joined by dots, each optionally followed by [n] indexes.
func parseJSONPath(p string) ([]pathStep, error) {
	var steps []pathStep
	i := 0
	for {
		// A key.
		switch {
		case i < len(p) && p[i] == '"':
			end, escaped, err := scanString(p, i)
			if err != nil {
				return nil, errors.New("unterminated quoted key")
			}
			key, err := unquoteJSON(p[i:end], escaped)
			if err != nil {
				return nil, errors.New("invalid escape in quoted key")
			}
			steps = append(steps, pathStep{key: key})
			i = end
		case i < len(p) && isIdentStart(p[i]):
			j := i + 1
			for j < len(p) && isIdentPart(p[j]) {
				j++
			}
			steps = append(steps, pathStep{key: p[i:j]})
			i = j
		default:
			return nil, errors.New("expected a field name (only field paths like a.b[0].c are supported, not JMESPath functions, projections or filters)")
		}
		// Indexes.
		for i < len(p) && p[i] == '[' {
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				return nil, errors.New("unterminated [")
			}
			n, err := strconv.Atoi(p[i+1 : i+j])
			if err != nil || n < 0 {
				return nil, errors.New("only non-negative integer indexes like [0] are supported, not JMESPath projections or slices")
			}
			steps = append(steps, pathStep{index: n, isIndex: true})
			i += j + 1
		}
		if i == len(p) {
			return steps, nil
		}
		if p[i] != '.' {
			return nil, errors.New("expected '.' or '[' after a field name")
		}
		i++
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func (st *jsonStage) process(_ context.Context, s *entryState) bool {
	input := s.line
	if st.source >= 0 {
		v, ok := s.value(st.source)
		if !ok {
			return true
		}
		input = v
	}
	i := skipWS(input, 0)
	if i >= len(input) || input[i] != '{' {
		return st.malformed(s)
	}
	end, err := st.walkObject(s, input, i, st.root)
	if err != nil || skipWS(input, end) != len(input) {
		return st.malformed(s)
	}
	s.commit()
	return true
}

// malformed handles a line that is not one JSON object: nothing is extracted from it.
func (st *jsonStage) malformed(s *entryState) bool {
	s.discard()
	s.failed("json")
	if st.dropMalformed {
		s.dropReason = "malformed_json"
		return false
	}
	return true
}

// walkObject walks the object at s[i] ('{'), extracting what n's children select, and
// returns the index just after it.
func (st *jsonStage) walkObject(es *entryState, s string, i int, n *jsonNode) (int, error) {
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return 0, errMalformedJSON
		}
		kend, escaped, err := scanString(s, i)
		if err != nil {
			return 0, err
		}
		var match *jsonNode
		if len(n.children) > 0 {
			key := s[i+1 : kend-1]
			if escaped {
				if key, err = unquoteJSON(s[i:kend], true); err != nil {
					return 0, err
				}
			}
			for _, c := range n.children {
				if !c.isIndex && c.key == key {
					match = c
					break
				}
			}
		}
		i = skipWS(s, kend)
		if i >= len(s) || s[i] != ':' {
			return 0, errMalformedJSON
		}
		i = skipWS(s, i+1)
		if i, err = st.walkValue(es, s, i, match); err != nil {
			return 0, err
		}
		i = skipWS(s, i)
		if i >= len(s) {
			return 0, errMalformedJSON
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errMalformedJSON
		}
	}
}

// walkArray is walkObject for arrays, whose children select by index.
func (st *jsonStage) walkArray(es *entryState, s string, i int, n *jsonNode) (int, error) {
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return i + 1, nil
	}
	for idx := 0; ; idx++ {
		var match *jsonNode
		for _, c := range n.children {
			if c.isIndex && c.index == idx {
				match = c
				break
			}
		}
		var err error
		if i, err = st.walkValue(es, s, i, match); err != nil {
			return 0, err
		}
		i = skipWS(s, i)
		if i >= len(s) {
			return 0, errMalformedJSON
		}
		switch s[i] {
		case ',':
			i = skipWS(s, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, errMalformedJSON
		}
	}
}

// walkValue skips the value at s[i], or, when n selects it, extracts it and walks into it
// for n's children.
func (st *jsonStage) walkValue(es *entryState, s string, i int, n *jsonNode) (int, error) {
	if n == nil {
		return skipValue(s, i)
	}
	var end int
	var err error
	switch {
	case i < len(s) && s[i] == '{' && len(n.children) > 0:
		end, err = st.walkObject(es, s, i, n)
	case i < len(s) && s[i] == '[' && len(n.children) > 0:
		end, err = st.walkArray(es, s, i, n)
	default:
		end, err = skipValue(s, i)
	}
	if err != nil || len(n.slots) == 0 {
		return end, err
	}
	raw := s[i:end]
	var v string
	switch raw[0] {
	case '"':
		_, escaped, _ := scanString(raw, 0)
		if v, err = unquoteJSON(raw, escaped); err != nil {
			return 0, err
		}
	case 'n':
		return end, nil // null: nothing extracted
	default:
		v = raw
	}
	for _, slot := range n.slots {
		es.stage(slot, v)
	}
	return end, nil
}
