package process

import (
	"context"
	"errors"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/pipeline"
)

// namedSlot pairs a label (or metadata) name with the extracted value it takes.
type namedSlot struct {
	name model.LabelName
	slot int
}

// sortedKeys returns m's keys in order, so slots and errors come out the same every time.
func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validLabelName checks a name as Loki does (the classic Prometheus label name syntax).
func validLabelName(field, name string) error {
	if !model.LabelName(name).IsValidLegacy() {
		return pipeline.Field(field, "invalid label name %q (letters, digits and '_', not starting with a digit)", name)
	}
	return nil
}

// labelsStage sets stream labels from extracted values: `labels: {level: "", app: service}`.
type labelsStage struct{ pairs []namedSlot }

func compileLabels(c *compiler, m map[string]string) (stage, error) {
	if len(m) == 0 {
		return nil, pipeline.Field("", "at least one label is required")
	}
	st := &labelsStage{}
	var errs []error
	for _, name := range sortedKeys(m) {
		if err := validLabelName(name, name); err != nil {
			errs = append(errs, err)
			continue
		}
		src := m[name]
		if src == "" {
			src = name
		}
		st.pairs = append(st.pairs, namedSlot{name: model.LabelName(name), slot: c.slot(src)})
	}
	return st, errors.Join(errs...)
}

func (st *labelsStage) process(_ context.Context, s *entryState) bool {
	for _, p := range st.pairs {
		if v, ok := s.value(p.slot); ok && v != "" {
			s.setLabel(p.name, model.LabelValue(validUTF8(v)))
		}
	}
	return true
}

// validUTF8 replaces invalid UTF-8 (Loki refuses it in labels and metadata); valid strings
// are returned as they are, without allocating.
func validUTF8(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}

// staticLabelsStage sets fixed stream labels.
type staticLabelsStage struct{ labels model.LabelSet }

func compileStaticLabels(m map[string]string) (stage, error) {
	if len(m) == 0 {
		return nil, pipeline.Field("", "at least one label is required")
	}
	st := &staticLabelsStage{labels: model.LabelSet{}}
	var errs []error
	for _, name := range sortedKeys(m) {
		if err := validLabelName(name, name); err != nil {
			errs = append(errs, err)
			continue
		}
		if m[name] == "" {
			errs = append(errs, pipeline.Field(name, "empty value (use label_drop to remove a label)"))
			continue
		}
		st.labels[model.LabelName(name)] = model.LabelValue(m[name])
	}
	return st, errors.Join(errs...)
}

func (st *staticLabelsStage) process(_ context.Context, s *entryState) bool {
	for name, value := range st.labels {
		s.setLabel(name, value)
	}
	return true
}

// labelDropStage removes stream labels.
type labelDropStage struct{ names []model.LabelName }

func compileLabelDrop(names []string) (stage, error) {
	if len(names) == 0 {
		return nil, pipeline.Field("", "at least one label name is required")
	}
	st := &labelDropStage{}
	for _, n := range names {
		st.names = append(st.names, model.LabelName(n))
	}
	return st, nil
}

func (st *labelDropStage) process(_ context.Context, s *entryState) bool {
	for _, n := range st.names {
		s.deleteLabel(n)
	}
	return true
}

// labelKeepStage removes every stream label it does not list.
type labelKeepStage struct{ keep map[model.LabelName]struct{} }

func compileLabelKeep(names []string) (stage, error) {
	if len(names) == 0 {
		return nil, pipeline.Field("", "at least one label name is required (an entry without labels cannot be sent to Loki)")
	}
	st := &labelKeepStage{keep: map[model.LabelName]struct{}{}}
	for _, n := range names {
		st.keep[model.LabelName(n)] = struct{}{}
	}
	return st, nil
}

func (st *labelKeepStage) process(_ context.Context, s *entryState) bool {
	s.keepLabels(st.keep)
	return true
}

// structuredMetadataStage attaches extracted values as structured metadata. A source that
// was not extracted but is a stream label moves from the stream to the metadata: the usual
// way to keep a high-cardinality label (a pod uid, a trace id) out of the stream.
type structuredMetadataStage struct{ pairs []namedSlot }

func compileStructuredMetadata(c *compiler, m map[string]string) (stage, error) {
	if len(m) == 0 {
		return nil, pipeline.Field("", "at least one name is required")
	}
	st := &structuredMetadataStage{}
	var errs []error
	for _, name := range sortedKeys(m) {
		if err := validLabelName(name, name); err != nil {
			errs = append(errs, err)
			continue
		}
		src := m[name]
		if src == "" {
			src = name
		}
		st.pairs = append(st.pairs, namedSlot{name: model.LabelName(name), slot: c.slot(src)})
	}
	return st, errors.Join(errs...)
}

func (st *structuredMetadataStage) process(_ context.Context, s *entryState) bool {
	for _, p := range st.pairs {
		if s.set[p.slot] {
			if v := s.slots[p.slot]; v != "" {
				s.setMetadata(string(p.name), validUTF8(v))
			}
			continue
		}
		src := model.LabelName(s.names[p.slot])
		if v, ok := s.label(src); ok {
			s.setMetadata(string(p.name), string(v))
			s.deleteLabel(src)
		}
	}
	return true
}

// OutputConfig configures the output stage.
//
//   - output: {source: msg}
type OutputConfig struct {
	// Source is the extracted value that becomes the line. Entries without it keep their line.
	Source string `yaml:"source"`
}

type outputStage struct{ slot int }

func (c *OutputConfig) compile(comp *compiler) (stage, error) {
	if c.Source == "" {
		return nil, pipeline.Field("source", "required")
	}
	return &outputStage{slot: comp.slot(c.Source)}, nil
}

func (st *outputStage) process(_ context.Context, s *entryState) bool {
	if v, ok := s.value(st.slot); ok {
		s.line, s.changed = v, true
	}
	return true
}
