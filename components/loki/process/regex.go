package process

import (
	"context"

	"github.com/grafana/regexp"

	"github.com/sondehq/sonde/pipeline"
)

// RegexConfig configures the regex stage.
//
//   - regex:
//     expression: '^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+)'
type RegexConfig struct {
	// Expression is an RE2 regular expression whose named capture groups are extracted.
	Expression string `yaml:"expression"`
	// Source is the extracted value to match instead of the line.
	Source string `yaml:"source,omitempty"`
}

type regexStage struct {
	re     *regexp.Regexp
	groups []int // capture group index → slot (-1: unnamed)
	source int
}

func (c *RegexConfig) compile(comp *compiler) (stage, error) {
	if c.Expression == "" {
		return nil, pipeline.Field("expression", "required")
	}
	re, err := regexp.Compile(c.Expression)
	if err != nil {
		return nil, pipeline.Field("expression", "%v", err)
	}
	st := &regexStage{re: re, source: -1}
	named := false
	for _, name := range re.SubexpNames() {
		slot := -1
		if name != "" {
			slot, named = comp.slot(name), true
		}
		st.groups = append(st.groups, slot)
	}
	if !named {
		return nil, pipeline.Field("expression", "has no named capture group (?P<name>...): nothing would be extracted")
	}
	if c.Source != "" {
		st.source = comp.slot(c.Source)
	}
	return st, nil
}

// process extracts the named groups. The regexp package allocates the match index slice:
// one allocation per line that this stage sees.
func (st *regexStage) process(_ context.Context, s *entryState) bool {
	input := s.line
	if st.source >= 0 {
		v, ok := s.value(st.source)
		if !ok {
			return true
		}
		input = v
	}
	m := st.re.FindStringSubmatchIndex(input)
	if m == nil {
		return true
	}
	for g, slot := range st.groups {
		if slot >= 0 && m[2*g] >= 0 {
			s.extract(slot, input[m[2*g]:m[2*g+1]])
		}
	}
	return true
}
