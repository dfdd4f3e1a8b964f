package process

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/grafana/regexp"
	"github.com/prometheus/prometheus/model/labels"
)

// A LogQL log selector: a stream selector followed by optional line filters,
// `{app="api", level=~"warn|error"} |= "timeout" != "healthz"`. Only this subset of
// LogQL makes sense for routing entries, so it is parsed here rather than by pulling in
// Loki's query engine.

type lineFilter struct {
	op  string // |=, !=, |~, !~
	str string
	re  *regexp.Regexp
}

func (f lineFilter) matches(line string) bool {
	switch f.op {
	case "|=":
		return strings.Contains(line, f.str)
	case "!=":
		return !strings.Contains(line, f.str)
	case "|~":
		return f.re.MatchString(line)
	default: // "!~"
		return !f.re.MatchString(line)
	}
}

type selector struct {
	matchers []*labels.Matcher
	filters  []lineFilter
}

// parseSelector parses s. As in Loki, at least one matcher must not match the empty value.
func parseSelector(s string) (*selector, error) {
	p := &selParser{s: s}
	sel := &selector{}
	p.ws()
	if !p.eat("{") {
		return nil, p.errorf("expected '{' to start a stream selector like {app=\"api\"}")
	}
	for {
		p.ws()
		if p.eat("}") {
			break
		}
		if len(sel.matchers) > 0 {
			if !p.eat(",") {
				return nil, p.errorf("expected ',' or '}'")
			}
			p.ws()
		}
		name := p.ident()
		if name == "" {
			return nil, p.errorf("expected a label name")
		}
		p.ws()
		var typ labels.MatchType
		switch {
		case p.eat("=~"):
			typ = labels.MatchRegexp
		case p.eat("!~"):
			typ = labels.MatchNotRegexp
		case p.eat("!="):
			typ = labels.MatchNotEqual
		case p.eat("="):
			typ = labels.MatchEqual
		default:
			return nil, p.errorf("expected =, !=, =~ or !~ after %q", name)
		}
		p.ws()
		value, err := p.quoted()
		if err != nil {
			return nil, err
		}
		m, err := labels.NewMatcher(typ, name, value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", name, err)
		}
		sel.matchers = append(sel.matchers, m)
	}
	nonEmpty := false
	for _, m := range sel.matchers {
		if !m.Matches("") {
			nonEmpty = true
		}
	}
	if !nonEmpty {
		return nil, errors.New("the stream selector needs at least one matcher that does not match the empty value, e.g. {app=\"api\"}")
	}
	for {
		p.ws()
		if p.i >= len(p.s) {
			return sel, nil
		}
		var op string
		for _, o := range []string{"|=", "!=", "|~", "!~"} {
			if p.eat(o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, p.errorf("expected a line filter (|=, !=, |~, !~); label parsers and formatters are not supported here")
		}
		p.ws()
		str, err := p.quoted()
		if err != nil {
			return nil, err
		}
		f := lineFilter{op: op, str: str}
		if op == "|~" || op == "!~" {
			if f.re, err = regexp.Compile(str); err != nil {
				return nil, fmt.Errorf("line filter %s %q: %w", op, str, err)
			}
		}
		sel.filters = append(sel.filters, f)
	}
}

type selParser struct {
	s string
	i int
}

func (p *selParser) errorf(format string, a ...any) error {
	return fmt.Errorf("at position %d: %s", p.i+1, fmt.Sprintf(format, a...))
}

func (p *selParser) ws() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *selParser) eat(tok string) bool {
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *selParser) ident() string {
	start := p.i
	for p.i < len(p.s) && (isIdentPart(p.s[p.i]) && (p.i > start || isIdentStart(p.s[p.i]))) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a "double-quoted" (Go escapes) or `back-quoted` string.
func (p *selParser) quoted() (string, error) {
	if p.i >= len(p.s) {
		return "", p.errorf("expected a quoted string")
	}
	switch q := p.s[p.i]; q {
	case '`':
		end := strings.IndexByte(p.s[p.i+1:], '`')
		if end < 0 {
			return "", p.errorf("unterminated `string`")
		}
		v := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return v, nil
	case '"':
		for j := p.i + 1; j < len(p.s); j++ {
			if p.s[j] == '\\' {
				j++
				continue
			}
			if p.s[j] == '"' {
				v, err := strconv.Unquote(p.s[p.i : j+1])
				if err != nil {
					return "", p.errorf("invalid string %s: %v", p.s[p.i:j+1], err)
				}
				p.i = j + 1
				return v, nil
			}
		}
		return "", p.errorf("unterminated \"string\"")
	}
	return "", p.errorf("expected a quoted string")
}
