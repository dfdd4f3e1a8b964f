package process

import (
	"context"
	"errors"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// MatchConfig configures the match stage.
//
//   - match:
//     selector: '{app="nginx"} |= "GET /healthz"'
//     action: drop
//   - match:
//     selector: '{app="api"}'
//     stages:
//   - json: {expressions: {level: ""}}
//   - labels: {level: ""}
type MatchConfig struct {
	// Selector is a LogQL stream selector with optional line filters (|=, !=, |~, !~).
	Selector string `yaml:"selector"`
	// Action is keep (default: run Stages on matching entries) or drop (drop them).
	Action string `yaml:"action,omitempty"`
	// Stages run on matching entries when the action is keep.
	Stages []StageConfig `yaml:"stages,omitempty"`
	// DropCounterReason is the reason dropped entries are counted under (default
	// "match_stage").
	DropCounterReason string `yaml:"drop_counter_reason,omitempty"`
}

type matchStage struct {
	sel    *selector
	drop   bool
	reason string
	stages []stage
}

func (c *MatchConfig) compile(comp *compiler) (stage, error) {
	var errs []error
	st := &matchStage{reason: c.DropCounterReason}
	if st.reason == "" {
		st.reason = "match_stage"
	}
	if c.Selector == "" {
		errs = append(errs, pipeline.Field("selector", "required"))
	} else if sel, err := parseSelector(c.Selector); err != nil {
		errs = append(errs, pipeline.Field("selector", "%v", err))
	} else {
		st.sel = sel
	}
	switch c.Action {
	case "", "keep":
		if len(c.Stages) == 0 {
			errs = append(errs, pipeline.Field("stages", "required when the action is keep"))
		}
		stages, err := comp.compileList(c.Stages, "stages")
		errs = append(errs, err)
		st.stages = stages
	case "drop":
		st.drop = true
		if len(c.Stages) > 0 {
			errs = append(errs, pipeline.Field("stages", "must be empty when the action is drop"))
		}
	default:
		errs = append(errs, pipeline.Field("action", "must be keep or drop, got %q", c.Action))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *matchStage) matches(s *entryState) bool {
	for _, m := range st.sel.matchers {
		v, _ := s.label(model.LabelName(m.Name))
		if !m.Matches(string(v)) {
			return false
		}
	}
	for _, f := range st.sel.filters {
		if !f.matches(s.line) {
			return false
		}
	}
	return true
}

func (st *matchStage) process(ctx context.Context, s *entryState) bool {
	if !st.matches(s) {
		return true
	}
	if st.drop {
		s.dropReason = st.reason
		return false
	}
	return run(ctx, st.stages, s)
}
