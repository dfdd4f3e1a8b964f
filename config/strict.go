package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkFields reports every mapping key in n that has no field in t, and every key written
// twice, each with its line. yaml.v3's KnownFields only works when decoding a whole document
// from bytes; sonde decodes each component's node into a type chosen at run time, so the
// check walks the node against the type itself. Types with their own YAML decoding (such as
// Prometheus' relabel.Config) are still structs underneath and are checked the same way;
// scalars (durations, regexps, secrets) end the walk.
func checkFields(n *yaml.Node, t reflect.Type, path string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	var errs []error
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue // merge keys are checked where they are defined
			}
			p := joinPath(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				errs = append(errs, &LineError{Line: k.Line, Field: p, Err: fmt.Errorf("written twice (first at line %d)", first)})
				continue
			}
			seen[k.Value] = k.Line
			ft, ok := fields.get(k.Value)
			if !ok {
				errs = append(errs, &LineError{Line: k.Line, Field: p, Err: fmt.Errorf("unknown field (valid: %s)", validNames(fields.named))})
				continue
			}
			errs = append(errs, checkFields(v, ft, p)...)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				errs = append(errs, &LineError{Line: k.Line, Field: p, Err: fmt.Errorf("written twice (first at line %d)", first)})
				continue
			}
			seen[k.Value] = k.Line
			errs = append(errs, checkFields(v, t.Elem(), p)...)
		}
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i, item := range n.Content {
			errs = append(errs, checkFields(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return errs
}

// structFields are the YAML keys of a struct and their field types.
type structFields struct {
	named map[string]reflect.Type
	rest  reflect.Type // an inline map's element type: it takes every other key; nil if none
}

// get returns the type of key's field.
func (f structFields) get(key string) (reflect.Type, bool) {
	if t, ok := f.named[key]; ok {
		return t, true
	}
	return f.rest, f.rest != nil // a key of an inline map (Prometheus' http_headers)
}

// yamlFields maps the YAML keys of struct t to their field types, following ",inline".
func yamlFields(t reflect.Type) structFields {
	out := structFields{named: map[string]reflect.Type{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				in := yamlFields(ft)
				for k, v := range in.named {
					out.named[k] = v
				}
				if in.rest != nil {
					out.rest = in.rest
				}
			case reflect.Map:
				out.rest = ft.Elem()
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out.named[name] = f.Type
	}
	return out
}

func validNames(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
