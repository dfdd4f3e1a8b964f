package process

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/sondehq/sonde/pipeline"
)

// LogfmtConfig configures the logfmt stage.
//
//   - logfmt:
//     mapping: {level: "", duration: took}
type LogfmtConfig struct {
	// Mapping maps extracted names to logfmt keys (empty: the key named like the value).
	Mapping map[string]string `yaml:"mapping"`
	// Source is the extracted value to parse instead of the line.
	Source string `yaml:"source,omitempty"`
}

type logfmtStage struct {
	keys   map[string][]int // logfmt key → slots
	source int              // -1: the line
}

func (c *LogfmtConfig) compile(comp *compiler) (stage, error) {
	var errs []error
	if len(c.Mapping) == 0 {
		errs = append(errs, pipeline.Field("mapping", "at least one key is required"))
	}
	st := &logfmtStage{keys: map[string][]int{}, source: -1}
	names := make([]string, 0, len(c.Mapping))
	for name := range c.Mapping {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := c.Mapping[name]
		if key == "" {
			key = name
		}
		if name == "" || strings.ContainsAny(key, " =\"") {
			errs = append(errs, pipeline.Field("mapping."+name, "invalid logfmt key %q", key))
			continue
		}
		st.keys[key] = append(st.keys[key], comp.slot(name))
	}
	if c.Source != "" {
		st.source = comp.slot(c.Source)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *logfmtStage) process(_ context.Context, s *entryState) bool {
	input := s.line
	if st.source >= 0 {
		v, ok := s.value(st.source)
		if !ok {
			return true
		}
		input = v
	}
	if err := scanLogfmt(input, func(key, value string) {
		for _, slot := range st.keys[key] {
			s.stage(slot, value)
		}
	}); err != nil {
		// Nothing is extracted from a line that does not parse to its end.
		s.discard()
		s.failed("logfmt")
		return true
	}
	s.commit()
	return true
}

var errMalformedLogfmt = errors.New("malformed logfmt")

// scanLogfmt calls fn for every key=value pair of line, as github.com/go-logfmt/logfmt reads
// them: keys run up to '=' or a space, values are bare or double-quoted with Go escapes, a
// key without '=' has an empty value. Unlike go-logfmt it accepts '=' and '"' inside bare
// values (url=/a?b=c), which real lines are full of. It stops at the first malformed pair
// (an unterminated quote). Values point into line unless they hold escapes.
func scanLogfmt(line string, fn func(key, value string)) error {
	i := 0
	for {
		for i < len(line) && line[i] <= ' ' {
			i++
		}
		if i >= len(line) {
			return nil
		}
		start := i
		for i < len(line) && line[i] > ' ' && line[i] != '=' && line[i] != '"' {
			i++
		}
		key := line[start:i]
		if key == "" {
			return errMalformedLogfmt
		}
		if i >= len(line) || line[i] != '=' {
			if i < len(line) && line[i] == '"' {
				return errMalformedLogfmt
			}
			fn(key, "")
			continue
		}
		i++ // '='
		if i < len(line) && line[i] == '"' {
			end, escaped := -1, false
			for j := i + 1; j < len(line); j++ {
				if line[j] == '\\' {
					escaped = true
					j++
					continue
				}
				if line[j] == '"' {
					end = j + 1
					break
				}
			}
			if end < 0 {
				return errMalformedLogfmt
			}
			value := line[i+1 : end-1]
			if escaped {
				v, err := strconv.Unquote(line[i:end])
				if err != nil {
					return errMalformedLogfmt
				}
				value = v
			}
			fn(key, value)
			i = end
			continue
		}
		start = i
		for i < len(line) && line[i] > ' ' {
			i++
		}
		fn(key, line[start:i])
	}
}
