package process

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sondehq/sonde/pipeline"
)

// Arguments configure loki.process. Stages are written the way Promtail's pipeline_stages
// are: a list of single-key maps, each key naming a stage type.
//
//	loki.process/app:
//	  forward_to: [loki.write/default]
//	  stages:
//	    - json: {expressions: {level: lvl, msg: ""}}
//	    - labels: {level: ""}
//	    - timestamp: {source: time, format: RFC3339Nano}
//	    - match:
//	        selector: '{app="nginx"} |= "healthz"'
//	        action: drop
type Arguments struct {
	// ForwardTo are the ids of the components that receive the processed entries.
	ForwardTo []string `yaml:"forward_to"`
	// Stages run in order on every entry.
	Stages []StageConfig `yaml:"stages"`
}

// DefaultArguments returns Arguments with their defaults (no stages: entries pass unchanged).
func DefaultArguments() *Arguments { return &Arguments{} }

// Validate implements pipeline.Arguments. Every stage's arguments are checked (regular
// expressions and selectors compiled), with field paths like "stages[2].regex.expression".
func (a *Arguments) Validate() error {
	var errs []error
	if len(a.ForwardTo) == 0 {
		errs = append(errs, pipeline.Field("forward_to", "at least one component id is required"))
	}
	for i, id := range a.ForwardTo {
		if id == "" {
			errs = append(errs, pipeline.Field(fmt.Sprintf("forward_to[%d]", i), "empty component id"))
		}
	}
	if _, err := compile(a.Stages); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// References implements pipeline.Referencer.
func (a *Arguments) References() []pipeline.Reference {
	return []pipeline.Reference{{Field: "forward_to", Kind: pipeline.KindLogs, IDs: a.ForwardTo}}
}

// StageConfig is one item of a stage list: exactly one of its fields is set.
type StageConfig struct {
	// JSON extracts values from a JSON line (or an extracted value).
	JSON *JSONConfig `yaml:"json,omitempty"`
	// Logfmt extracts values from a logfmt line.
	Logfmt *LogfmtConfig `yaml:"logfmt,omitempty"`
	// Regex extracts the named capture groups of a regular expression.
	Regex *RegexConfig `yaml:"regex,omitempty"`
	// Labels sets stream labels from extracted values: label name → extracted name (empty:
	// the same name).
	Labels map[string]string `yaml:"labels,omitempty"`
	// StaticLabels sets stream labels to fixed values.
	StaticLabels map[string]string `yaml:"static_labels,omitempty"`
	// LabelDrop removes the listed stream labels.
	LabelDrop []string `yaml:"label_drop,omitempty"`
	// LabelKeep removes every stream label except the listed ones.
	LabelKeep []string `yaml:"label_keep,omitempty"`
	// StructuredMetadata attaches extracted values (or stream labels, which are then moved
	// off the stream) as structured metadata: metadata name → extracted name (empty: same).
	StructuredMetadata map[string]string `yaml:"structured_metadata,omitempty"`
	// Timestamp sets the entry's timestamp from an extracted value.
	Timestamp *TimestampConfig `yaml:"timestamp,omitempty"`
	// Output replaces the line with an extracted value.
	Output *OutputConfig `yaml:"output,omitempty"`
	// Match runs nested stages on, or drops, the entries a selector matches.
	Match *MatchConfig `yaml:"match,omitempty"`
	// Drop drops entries by regular expression, value, age or size.
	Drop *DropConfig `yaml:"drop,omitempty"`
	// Multiline joins lines into one entry, each block starting with a line that matches
	// firstline.
	Multiline *MultilineConfig `yaml:"multiline,omitempty"`
	// Limit rate-limits entries, dropping or waiting.
	Limit *LimitConfig `yaml:"limit,omitempty"`
}

// kinds returns the names of the stage types set in c.
func (c *StageConfig) kinds() []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(c.JSON != nil, "json")
	add(c.Logfmt != nil, "logfmt")
	add(c.Regex != nil, "regex")
	add(c.Labels != nil, "labels")
	add(c.StaticLabels != nil, "static_labels")
	add(c.LabelDrop != nil, "label_drop")
	add(c.LabelKeep != nil, "label_keep")
	add(c.StructuredMetadata != nil, "structured_metadata")
	add(c.Timestamp != nil, "timestamp")
	add(c.Output != nil, "output")
	add(c.Match != nil, "match")
	add(c.Drop != nil, "drop")
	add(c.Multiline != nil, "multiline")
	add(c.Limit != nil, "limit")
	return out
}

// kind returns the one stage type set in c, or an error naming what is wrong.
func (c *StageConfig) kind() (string, error) {
	switch k := c.kinds(); len(k) {
	case 1:
		return k[0], nil
	case 0:
		return "", errors.New("empty stage: write one stage type with its arguments (json, logfmt, regex, labels, static_labels, label_drop, label_keep, structured_metadata, timestamp, output, match, drop, multiline, limit)")
	default:
		return "", fmt.Errorf("one stage type per list item, got %s (start a new item with '-')", strings.Join(k, " and "))
	}
}

// StringList is a list of strings that may also be written as a single string.
type StringList []string

// UnmarshalYAML accepts a string or a list of strings. It uses the callback form understood
// by every YAML library the project uses.
func (l *StringList) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err == nil {
		*l = StringList{s}
		return nil
	}
	var list []string
	if err := unmarshal(&list); err != nil {
		return err
	}
	*l = list
	return nil
}
