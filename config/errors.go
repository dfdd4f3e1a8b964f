package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline"
)

// LineError is a configuration error at a line of a file.
type LineError struct {
	File      string
	Line      int
	Component string // component id, when the error is inside one
	Field     string // YAML path inside the component, when known
	Err       error
}

func (e *LineError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Component != "" {
		b.WriteString(e.Component)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *LineError) Unwrap() error { return e.Err }

// locate turns the errors of one component (FieldErrors from Validate, LineErrors from the
// strict check, yaml.v3 type errors) into LineErrors that carry file, line and component.
func locate(file, component string, node *yaml.Node, err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, locate(file, component, node, e)...)
		}
		return out
	}
	var le *LineError
	if errors.As(err, &le) {
		c := *le
		c.File, c.Component = file, component
		return []error{&c}
	}
	var fe *pipeline.FieldError
	if errors.As(err, &fe) {
		return []error{&LineError{File: file, Line: lineOf(node, fe.Field), Component: component, Field: fe.Field, Err: fe.Err}}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []error
		for _, msg := range te.Errors {
			line, rest := splitYAMLLine(msg)
			out = append(out, &LineError{File: file, Line: line, Component: component, Err: errors.New(rest)})
		}
		return out
	}
	line := 0
	if node != nil {
		line = node.Line
	}
	return []error{&LineError{File: file, Line: line, Component: component, Err: err}}
}

// splitYAMLLine splits yaml.v3's "line 12: message" into 12 and "message".
func splitYAMLLine(msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, tail, ok := strings.Cut(rest, ": ")
	if !ok {
		return 0, msg
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, msg
	}
	return n, tail
}

// lineOf finds the line of a YAML path such as "endpoint.url" or "rules[2].regex" in node;
// when the path does not exist (a missing required field) it returns the line of the
// deepest part that does.
func lineOf(node *yaml.Node, path string) int {
	if node == nil {
		return 0
	}
	line := node.Line
	cur := node
	for _, part := range splitPath(path) {
		if cur.Kind == yaml.AliasNode && cur.Alias != nil {
			cur = cur.Alias
		}
		var next *yaml.Node
		if idx, err := strconv.Atoi(part); err == nil && cur.Kind == yaml.SequenceNode {
			if idx >= 0 && idx < len(cur.Content) {
				next = cur.Content[idx]
			}
		} else if cur.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == part {
					line = cur.Content[i].Line
					next = cur.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return line
		}
		cur = next
		line = cur.Line
	}
	return line
}

func splitPath(path string) []string {
	path = strings.NewReplacer("[", ".", "]", "").Replace(path)
	var out []string
	for _, p := range strings.Split(path, ".") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

// errorf builds a LineError at a node.
func errorf(file string, node *yaml.Node, component, format string, a ...any) error {
	line := 0
	if node != nil {
		line = node.Line
	}
	return &LineError{File: file, Line: line, Component: component, Err: fmt.Errorf(format, a...)}
}
