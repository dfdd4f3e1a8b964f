package process

import (
	"context"
	"errors"
	"fmt"

	"github.com/sondehq/sonde/pipeline"
)

// stage is one compiled processing step. Stages are immutable after compile (the few with
// state, such as limit and the timestamp fudge, guard it themselves), so one program serves
// concurrent batches.
type stage interface {
	// process handles one entry in place and reports whether the entry goes on. A stage
	// that drops the entry sets s.dropReason; one that must abort the batch (ctx ended while
	// waiting) sets s.err.
	process(ctx context.Context, s *entryState) bool
}

// program is a compiled stage list. When it holds a multiline stage, the stages before it
// run when an entry arrives and the stages after it when a block is complete.
type program struct {
	names []string // extracted-value slot names
	pre   []stage
	ml    *multilineConfig // nil: no multiline stage
	post  []stage
}

// compiler numbers extracted-value names into slots shared by every stage of a program.
type compiler struct {
	slots map[string]int
	names []string
}

func (c *compiler) slot(name string) int {
	if i, ok := c.slots[name]; ok {
		return i
	}
	c.slots[name] = len(c.names)
	c.names = append(c.names, name)
	return len(c.names) - 1
}

// compile validates and compiles a stage list. Errors name the field, e.g.
// "stages[2].regex.expression".
func compile(cfgs []StageConfig) (*program, error) {
	c := &compiler{slots: map[string]int{}}
	p := &program{}
	var errs []error
	for i := range cfgs {
		path := fmt.Sprintf("stages[%d]", i)
		if kind, err := cfgs[i].kind(); err == nil && kind == "multiline" {
			if p.ml != nil {
				errs = append(errs, pipeline.Field(path+".multiline", "only one multiline stage per pipeline"))
				continue
			}
			ml, err := cfgs[i].Multiline.compile()
			if err != nil {
				errs = append(errs, pipeline.Nest(path+".multiline", err))
				continue
			}
			p.ml = ml
			continue
		}
		st, err := c.compileStage(&cfgs[i], path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p.ml != nil {
			p.post = append(p.post, st)
		} else {
			p.pre = append(p.pre, st)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.names = c.names
	return p, nil
}

// compileList compiles a nested stage list (inside match), where multiline is not allowed.
func (c *compiler) compileList(cfgs []StageConfig, parent string) ([]stage, error) {
	var out []stage
	var errs []error
	for i := range cfgs {
		path := fmt.Sprintf("%s[%d]", parent, i)
		if kind, err := cfgs[i].kind(); err == nil && kind == "multiline" {
			errs = append(errs, pipeline.Field(path+".multiline", "multiline cannot be nested in match: put it first in the top-level stages"))
			continue
		}
		st, err := c.compileStage(&cfgs[i], path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, st)
	}
	return out, errors.Join(errs...)
}

// compileStage compiles one list item; path is its position, e.g. "stages[2]".
func (c *compiler) compileStage(cfg *StageConfig, path string) (stage, error) {
	kind, err := cfg.kind()
	if err != nil {
		return nil, pipeline.Field(path, "%v", err)
	}
	var st stage
	switch kind {
	case "json":
		st, err = cfg.JSON.compile(c)
	case "logfmt":
		st, err = cfg.Logfmt.compile(c)
	case "regex":
		st, err = cfg.Regex.compile(c)
	case "labels":
		st, err = compileLabels(c, cfg.Labels)
	case "static_labels":
		st, err = compileStaticLabels(cfg.StaticLabels)
	case "label_drop":
		st, err = compileLabelDrop(cfg.LabelDrop)
	case "label_keep":
		st, err = compileLabelKeep(cfg.LabelKeep)
	case "structured_metadata":
		st, err = compileStructuredMetadata(c, cfg.StructuredMetadata)
	case "timestamp":
		st, err = cfg.Timestamp.compile(c)
	case "output":
		st, err = cfg.Output.compile(c)
	case "match":
		st, err = cfg.Match.compile(c)
	case "drop":
		st, err = cfg.Drop.compile(c)
	case "limit":
		st, err = cfg.Limit.compile()
	default:
		err = fmt.Errorf("unknown stage type %q", kind)
	}
	if err != nil {
		return nil, pipeline.Nest(path+"."+kind, err)
	}
	return st, nil
}

// run passes s through stages; it reports whether the entry goes on.
func run(ctx context.Context, stages []stage, s *entryState) bool {
	for _, st := range stages {
		if !st.process(ctx, s) {
			return false
		}
	}
	return true
}
