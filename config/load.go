// Package config loads sonde's YAML configuration: ${ENV} expansion, strict decoding of every
// component's arguments into the type its registration declares, validation, and errors that
// name file, line, component and field. It also holds the built-in presets.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline"
)

// File is a loaded, validated configuration.
type File struct {
	Path  string // file name used in errors ("<preset host>" for presets)
	Specs []pipeline.Spec
}

// Load reads, expands, decodes and validates the file at path.
func Load(path string, reg *pipeline.Registry) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, reg, EnvLookup)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Parse decodes and validates a configuration held in data; name is used in errors.
func Parse(name string, data []byte, reg *pipeline.Registry, lookup func(string) (string, bool)) (*File, error) {
	return ParseWith(name, data, reg, Options{Lookup: lookup})
}

// Options are what a configuration is checked against besides the registry.
type Options struct {
	// Lookup is the environment ${VAR} references read; EnvLookup when nil.
	Lookup func(string) (string, bool)
	// Reserved are the addresses sonde itself listens on (--server.listen): a component
	// listening on an overlapping address is an error.
	Reserved []pipeline.ListenAddr
}

// ParseWith is Parse with Options.
func ParseWith(name string, data []byte, reg *pipeline.Registry, opts Options) (*File, error) {
	lookup := opts.Lookup
	if lookup == nil {
		lookup = EnvLookup
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := splitYAMLLine(strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, &LineError{File: name, Line: line, Err: errors.New(msg)}
	}
	f := &File{Path: name}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, &LineError{File: name, Err: errors.New("empty configuration: expected a top-level \"components:\" mapping")}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, errorf(name, doc, "", "expected a mapping with a \"components\" key")
	}
	var comps *yaml.Node
	var errs []error
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k := doc.Content[i]
		switch k.Value {
		case "components":
			comps = doc.Content[i+1]
		default:
			errs = append(errs, errorf(name, k, "", "unknown top-level field %q (valid: components)", k.Value))
		}
	}
	if comps == nil || comps.Kind != yaml.MappingNode {
		if comps != nil && comps.Tag == "!!null" {
			errs = append(errs, errorf(name, comps, "", "components: no components defined"))
		} else {
			errs = append(errs, errorf(name, doc, "", "components: expected a mapping of <type>/<name> to arguments"))
		}
		return nil, errors.Join(errs...)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(comps.Content); i += 2 {
		key, body := comps.Content[i], comps.Content[i+1]
		id := key.Value
		if first, dup := seen[id]; dup {
			errs = append(errs, errorf(name, key, id, "duplicate component id (first defined at line %d)", first))
			continue
		}
		seen[id] = key.Line
		spec, err := decodeComponent(name, key, body, reg, lookup)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.Specs = append(f.Specs, spec)
	}
	if len(errs) == 0 {
		errs = append(errs, pipeline.ValidateGraph(reg, f.Specs, opts.Reserved...))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

func decodeComponent(file string, key, body *yaml.Node, reg *pipeline.Registry, lookup func(string) (string, bool)) (pipeline.Spec, error) {
	id := key.Value
	typ, cname, ok := strings.Cut(id, "/")
	if !ok || typ == "" || !nameRE.MatchString(cname) {
		return pipeline.Spec{}, errorf(file, key, "", "component key %q must be <type>/<name>, the name made of letters, digits, '_', '.', '-'", id)
	}
	r, ok := reg.Lookup(typ)
	if !ok {
		return pipeline.Spec{}, errorf(file, key, id, "unknown component type %q%s", typ, suggest(typ, reg.Types()))
	}
	args := r.Args()
	if body.Tag != "!!null" {
		if errs := checkFields(body, reflect.TypeOf(args), ""); len(errs) > 0 {
			return pipeline.Spec{}, errors.Join(locate(file, id, body, errors.Join(errs...))...)
		}
		if err := expandNode(body, lookup); err != nil {
			return pipeline.Spec{}, errors.Join(locate(file, id, body, err)...)
		}
		if err := body.Decode(args); err != nil {
			return pipeline.Spec{}, errors.Join(locate(file, id, body, errors.Join(decodeErrors(body, reflect.TypeOf(args), "", err)...))...)
		}
	}
	if err := args.Validate(); err != nil {
		return pipeline.Spec{}, errors.Join(locate(file, id, body, err)...)
	}
	fp, err := yaml.Marshal(body)
	if err != nil {
		return pipeline.Spec{}, errorf(file, key, id, "fingerprint: %v", err)
	}
	return pipeline.Spec{
		ID:          id,
		Type:        typ,
		Name:        cname,
		Args:        args,
		Fingerprint: string(fp),
		Locate: func(field string) string {
			return fmt.Sprintf("%s:%d", file, lineOf(body, field))
		},
	}, nil
}

// expandNode expands ${VAR} references in every scalar value below n (keys and comments are
// left alone), so an expanded value can never change the document's structure or lines.
// Errors name the line and the field of the value.
func expandNode(n *yaml.Node, lookup func(string) (string, bool)) error {
	var errs []error
	var walk func(n *yaml.Node, path string, isKey bool)
	walk = func(n *yaml.Node, path string, isKey bool) {
		switch n.Kind {
		case yaml.ScalarNode:
			if isKey || !strings.Contains(n.Value, "$") {
				return
			}
			v, err := Expand(n.Value, lookup)
			if err != nil {
				errs = append(errs, &LineError{Line: n.Line, Field: path, Err: err})
				return
			}
			if v != n.Value {
				n.Value = v
				if n.Style == 0 || n.Style == yaml.TaggedStyle {
					n.Tag = "" // let the expanded plain value resolve again (an int, a bool)
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i], path, true)
				walk(n.Content[i+1], joinPath(path, n.Content[i].Value), false)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), false)
			}
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, false)
			}
		}
	}
	walk(n, "", false)
	return errors.Join(errs...)
}

// suggest proposes the closest known type for a misspelt one.
func suggest(typ string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := editDistance(typ, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (known: %s)", strings.Join(known, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
