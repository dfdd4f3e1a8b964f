package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeErrors explains why decoding n into t failed with err: it finds every value below n
// that does not decode into its field's type and reports each as a LineError with its line
// and field path. yaml.v3's own messages name a line but no field ("cannot unmarshal !!str
// `lots` into uint"), and decoders of types such as model.Duration name neither.
func decodeErrors(n *yaml.Node, t reflect.Type, path string, err error) []error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	et := t
	for et.Kind() == reflect.Pointer {
		et = et.Elem()
	}
	var errs []error
	child := func(c *yaml.Node, ct reflect.Type, p string) {
		if cerr := c.Decode(reflect.New(ct).Interface()); cerr != nil {
			errs = append(errs, decodeErrors(c, ct, p, cerr)...)
		}
	}
	switch {
	case n.Kind == yaml.MappingNode && et.Kind() == reflect.Struct:
		fields := yamlFields(et)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if ft, ok := fields.get(n.Content[i].Value); ok {
				child(n.Content[i+1], ft, joinPath(path, n.Content[i].Value))
			}
		}
	case n.Kind == yaml.MappingNode && et.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			child(n.Content[i+1], et.Elem(), joinPath(path, n.Content[i].Value))
		}
	case n.Kind == yaml.SequenceNode && (et.Kind() == reflect.Slice || et.Kind() == reflect.Array):
		for i, item := range n.Content {
			child(item, et.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// No part fails alone: the value as a whole is wrong for t.
	return []error{&LineError{Line: n.Line, Field: path, Err: explainDecode(n, t, err)}}
}

// explainDecode rewrites yaml.v3's type errors in the words of the configuration: what was
// written and what the field takes. Other decoders' errors already say what is wrong.
func explainDecode(n *yaml.Node, t reflect.Type, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		_, m = splitYAMLLine(m)
		msgs = append(msgs, explainTypeError(m, n, t))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// yaml.v3 writes "cannot unmarshal !!str `lots` into uint" (long values cut short).
var typeErrorRE = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")

func explainTypeError(msg string, n *yaml.Node, t reflect.Type) string {
	m := typeErrorRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	tag, value, into := m[1], m[2], m[3]
	var what string
	switch {
	case n.Kind == yaml.ScalarNode:
		what = describeScalar(n.ShortTag(), n.Value)
	case tag == "!!map" || tag == "!!seq":
		what = describeTag(tag)
	default:
		what = describeScalar(tag, value) // a part of the value that a custom decoder reads
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	as, ok := describeGoName(into)
	switch {
	case !ok || into == t.String():
		as = describeType(t) // the field's own type, or the struct behind its custom decoder
	case t.PkgPath() != "" && t.Kind() != reflect.Struct && t.Kind() != reflect.Map:
		as = fmt.Sprintf("%s (read from a %s)", t, as) // a scalar type with its own decoder, such as a size
	}
	return fmt.Sprintf("cannot use %s as %s", what, as)
}

func describeTag(tag string) string {
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	}
	return tag
}

func describeScalar(tag, value string) string {
	const maxLen = 40
	if len(value) > maxLen {
		value = value[:maxLen] + "…"
	}
	switch tag {
	case "!!str":
		return fmt.Sprintf("%q (string)", value)
	case "!!int":
		return value + " (integer)"
	case "!!float":
		return value + " (number)"
	case "!!bool":
		return value + " (boolean)"
	case "!!null":
		return "null"
	case "!!timestamp":
		return value + " (timestamp)"
	}
	return fmt.Sprintf("%q (%s)", value, strings.TrimPrefix(tag, "!!"))
}

var durationType = reflect.TypeOf(time.Duration(0))

// describeType names what a value of type t is written as in YAML.
func describeType(t reflect.Type) string {
	if t == durationType {
		return "duration (such as 30s)"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return fmt.Sprintf("%d-bit integer", t.Bits())
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return "unsigned integer"
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return fmt.Sprintf("%d-bit unsigned integer", t.Bits())
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map, reflect.Struct:
		return "mapping"
	}
	return t.String()
}

// describeGoName is describeType for a type known only by its name in a yaml.v3 message
// (the type a custom decoder decodes into); false for names other than Go's basic types,
// lists and maps.
func describeGoName(name string) (string, bool) {
	basic := map[string]reflect.Type{
		"bool": reflect.TypeOf(false), "string": reflect.TypeOf(""), "time.Duration": durationType,
		"int": reflect.TypeOf(0), "int8": reflect.TypeOf(int8(0)), "int16": reflect.TypeOf(int16(0)),
		"int32": reflect.TypeOf(int32(0)), "int64": reflect.TypeOf(int64(0)),
		"uint": reflect.TypeOf(uint(0)), "uint8": reflect.TypeOf(uint8(0)), "uint16": reflect.TypeOf(uint16(0)),
		"uint32": reflect.TypeOf(uint32(0)), "uint64": reflect.TypeOf(uint64(0)),
		"float32": reflect.TypeOf(float32(0)), "float64": reflect.TypeOf(float64(0)),
	}
	switch t, ok := basic[name]; {
	case ok:
		return describeType(t), true
	case strings.HasPrefix(name, "[]"):
		return "list", true
	case strings.HasPrefix(name, "map["):
		return "mapping", true
	}
	return "", false
}
