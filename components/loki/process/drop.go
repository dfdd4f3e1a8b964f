package process

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/grafana/regexp"
	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/internal/units"
	"github.com/sondehq/sonde/pipeline"
)

// DropConfig configures the drop stage. Every condition given must hold for an entry to be
// dropped.
//
//   - drop: {expression: "^DEBUG"}                          # line matches
//   - drop: {source: level, value: debug}                     # extracted value equals
//   - drop: {source: [ns, app], separator: "/", expression: "kube-system/.*"}
//   - drop: {older_than: 24h, drop_counter_reason: too_old}
//   - drop: {longer_than: 8KiB}
type DropConfig struct {
	// Source names extracted values (or labels); several are joined with Separator. With
	// neither Expression nor Value, entries where every source exists are dropped.
	Source StringList `yaml:"source,omitempty"`
	// Separator joins several sources (default ";").
	Separator string `yaml:"separator,omitempty"`
	// Expression is an RE2 regular expression matched against the source, or the line.
	Expression string `yaml:"expression,omitempty"`
	// Value is compared with the source for equality.
	Value *string `yaml:"value,omitempty"`
	// OlderThan drops entries whose timestamp is older than this.
	OlderThan model.Duration `yaml:"older_than,omitempty"`
	// LongerThan drops entries whose line is longer than this many bytes.
	LongerThan units.ByteSize `yaml:"longer_than,omitempty"`
	// DropCounterReason is the reason dropped entries are counted under (default
	// "drop_stage").
	DropCounterReason string `yaml:"drop_counter_reason,omitempty"`
}

type dropStage struct {
	sources    []int
	separator  string
	re         *regexp.Regexp
	value      *string
	olderThan  time.Duration
	longerThan int
	reason     string
}

func (c *DropConfig) compile(comp *compiler) (stage, error) {
	var errs []error
	st := &dropStage{
		separator:  c.Separator,
		value:      c.Value,
		olderThan:  time.Duration(c.OlderThan),
		longerThan: int(c.LongerThan),
		reason:     c.DropCounterReason,
	}
	if st.separator == "" {
		st.separator = ";"
	}
	if st.reason == "" {
		st.reason = "drop_stage"
	}
	if c.Expression != "" {
		re, err := regexp.Compile(c.Expression)
		if err != nil {
			errs = append(errs, pipeline.Field("expression", "%v", err))
		}
		st.re = re
	}
	if c.Expression != "" && c.Value != nil {
		errs = append(errs, pipeline.Field("value", "expression and value cannot both be set"))
	}
	if c.Value != nil && len(c.Source) == 0 {
		errs = append(errs, pipeline.Field("value", "needs a source to compare with"))
	}
	if c.OlderThan < 0 {
		errs = append(errs, pipeline.Field("older_than", "must not be negative"))
	}
	if len(c.Source) == 0 && c.Expression == "" && c.OlderThan == 0 && c.LongerThan == 0 {
		errs = append(errs, pipeline.Field("", "needs at least one condition: source, expression, value, older_than or longer_than"))
	}
	for _, src := range c.Source {
		if src == "" {
			errs = append(errs, pipeline.Field("source", "empty name"))
			continue
		}
		st.sources = append(st.sources, comp.slot(src))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *dropStage) process(_ context.Context, s *entryState) bool {
	if st.olderThan > 0 && !s.ts.Before(s.now.Add(-st.olderThan)) {
		return true
	}
	if st.longerThan > 0 && len(s.line) <= st.longerThan {
		return true
	}
	switch {
	case len(st.sources) > 0:
		v, ok := st.sourceValue(s)
		if !ok {
			return true
		}
		if st.value != nil && v != *st.value {
			return true
		}
		if st.re != nil && !st.re.MatchString(v) {
			return true
		}
	case st.re != nil:
		if !st.re.MatchString(s.line) {
			return true
		}
	}
	s.dropReason = st.reason
	return false
}

// sourceValue returns the source, or the sources joined; false when one is missing.
func (st *dropStage) sourceValue(s *entryState) (string, bool) {
	if len(st.sources) == 1 {
		return s.value(st.sources[0])
	}
	var b strings.Builder
	for i, slot := range st.sources {
		v, ok := s.value(slot)
		if !ok {
			return "", false
		}
		if i > 0 {
			b.WriteString(st.separator)
		}
		b.WriteString(v)
	}
	return b.String(), true
}
