package docgen

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Row is one argument of a component: one YAML key.
type Row struct {
	Key     string // YAML path below the component: "endpoints[].queue_config.capacity"
	Type    string // how the value is written: "duration", "list of string", "object"
	Default string // the default as YAML; "" when empty or when the row is an object
	Doc     string // what it does, from the field's doc comment (or a note, for other modules' types)
	Link    string // where another module's type is documented; "" for sonde's own
}

// Missing is a component or argument without a description.
type Missing struct {
	Type  string // the component type
	Key   string // the argument's YAML path; "" for the component itself
	Where string // where to write the description: "components/loki/process: StageConfig.Limit"
}

func (m Missing) String() string {
	if m.Key == "" {
		return fmt.Sprintf("%s: component has no description (%s)", m.Type, m.Where)
	}
	return fmt.Sprintf("%s: %s has no description (%s)", m.Type, m.Key, m.Where)
}

// walker lists the arguments of one component type by walking its Arguments type.
type walker struct {
	src      *sources
	typ      string // the component type
	rows     []Row
	missing  []Missing
	expanded map[reflect.Type]string // local struct types being listed → their key prefix
	err      error
}

// structFields adds the rows of the keys of struct type t, with values from v (the defaults;
// invalid when there are none), their paths starting with prefix.
func (w *walker) structFields(t reflect.Type, v reflect.Value, prefix string) {
	if w.err != nil {
		return
	}
	var docs *typeDocs
	if t.Name() != "" {
		pkg, err := w.src.pkg(t.PkgPath())
		if err != nil {
			w.err = err
			return
		}
		docs = pkg.types[t.Name()]
	}
	if docs == nil {
		docs = &typeDocs{fields: map[string]string{}}
	}
	keys := map[string]string{} // Go field name → YAML key, to name keys in docs
	for i := range t.NumField() {
		if name, ok := yamlKey(t.Field(i)); ok && name != "" {
			keys[t.Field(i).Name] = name
		}
	}
	eachKey(t, v, func(f reflect.StructField, key string, fv reflect.Value) {
		if key == "" {
			w.inline(t, f, fv, prefix)
			return
		}
		where := fmt.Sprintf("%s: %s.%s", w.src.rel(t.PkgPath()), t.Name(), f.Name)
		w.value(prefix+key, f.Type, fv, fieldKeys(docs.fields[f.Name], keys), where)
	})
}

// eachKey calls fn for every field of struct t that YAML reads, with its YAML key ("" for
// a field written inline) and its value in v (invalid when v is).
func eachKey(t reflect.Type, v reflect.Value, fn func(f reflect.StructField, key string, fv reflect.Value)) {
	for i := range t.NumField() {
		f := t.Field(i)
		if key, ok := yamlKey(f); ok {
			fn(f, key, field(v, i))
		}
	}
}

// inline adds the keys of a struct written inline in t.
func (w *walker) inline(t reflect.Type, f reflect.StructField, v reflect.Value, prefix string) {
	ft, v := deref(f.Type, v)
	switch {
	case ft.Kind() == reflect.Struct && w.src.local(ft.PkgPath()):
		w.structFields(ft, v, prefix)
	case ft.Kind() == reflect.Struct:
		w.external(ft, v, prefix)
	default:
		w.missing = append(w.missing, Missing{Type: w.typ, Key: prefix + "*",
			Where: fmt.Sprintf("%s: %s.%s: inline %s is not supported by internal/docgen", w.src.rel(t.PkgPath()), t.Name(), f.Name, ft)})
	}
}

// external adds the keys of another module's struct written inline (Prometheus' HTTP
// client settings), described by its note.
func (w *walker) external(t reflect.Type, v reflect.Value, prefix string) {
	n, ok := notes[t]
	if !ok {
		w.missing = append(w.missing, Missing{Type: w.typ, Key: prefix + "*",
			Where: fmt.Sprintf("internal/docgen/notes.go: no note for %s, written inline", t)})
		return
	}
	eachKey(t, v, func(f reflect.StructField, key string, fv reflect.Value) {
		if key == "" {
			if ft, fv := deref(f.Type, fv); ft.Kind() == reflect.Struct {
				w.external(ft, fv, prefix)
			}
			return
		}
		r := Row{Key: prefix + key, Type: w.typeName(f.Type), Default: formatValue(fv), Doc: n.keys[key]}
		if r.Type == "object" {
			r.Link = n.link // its keys are documented there
		}
		if r.Doc == "" {
			w.missing = append(w.missing, Missing{Type: w.typ, Key: r.Key,
				Where: fmt.Sprintf("internal/docgen/notes.go: the note for %s has no key %q", t, key)})
		}
		w.rows = append(w.rows, r)
	})
}

// value adds the row of one key and, for sonde's own structs, the rows of its keys.
func (w *walker) value(path string, t reflect.Type, v reflect.Value, doc, where string) {
	if doc == "" {
		w.missing = append(w.missing, Missing{Type: w.typ, Key: path, Where: where})
	}
	r := Row{Key: path, Type: w.typeName(t), Default: formatValue(v), Doc: doc}
	base, bv := deref(t, v)
	var (
		elem   reflect.Type // a struct of sonde's whose keys are listed below this one
		ev     reflect.Value
		suffix string
	)
	switch base.Kind() {
	case reflect.Struct:
		elem, ev, suffix = base, bv, "."
		if !bv.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
			ev = decodeEmpty(base) // a block written empty gets these
		}
	case reflect.Slice, reflect.Array:
		elem, suffix = base.Elem(), "[]."
	case reflect.Map:
		elem, suffix = base.Elem(), ".<name>."
	}
	if elem != nil {
		if base.Kind() != reflect.Struct {
			elem, _ = deref(elem, reflect.Value{})
			ev = decodeEmpty(elem) // an item written gets these
		}
		switch {
		case elem.Kind() != reflect.Struct || scalars[elem] != "":
			elem = nil
		case !w.src.local(elem.PkgPath()):
			if n, ok := notes[elem]; ok {
				r.Link = n.link
			} else {
				w.missing = append(w.missing, Missing{Type: w.typ, Key: path,
					Where: fmt.Sprintf("internal/docgen/notes.go: no note for %s", elem)})
			}
			elem = nil
		}
	}
	if elem == nil {
		w.rows = append(w.rows, r)
		return
	}
	r.Default = ""
	if first, cycle := w.expanded[elem]; cycle {
		r.Doc = strings.TrimSpace(r.Doc + sameKeys(first))
		w.rows = append(w.rows, r)
		return
	}
	w.rows = append(w.rows, r)
	w.expanded[elem] = path + suffix
	w.structFields(elem, ev, path+suffix)
	delete(w.expanded, elem)
}

// yamlKey returns a field's YAML key, "" for a field written inline; ok is false for
// fields YAML skips.
func yamlKey(f reflect.StructField) (key string, ok bool) {
	name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return "", false
	}
	if slices.Contains(strings.Split(opts, ","), "inline") {
		return "", true
	}
	if !f.IsExported() {
		return "", false
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, true
}

// field returns field i of struct value v, or an invalid value when v is invalid.
func field(v reflect.Value, i int) reflect.Value {
	if !v.IsValid() {
		return v
	}
	return v.Field(i)
}

// deref follows pointers of t and, while they are set, of v.
func deref(t reflect.Type, v reflect.Value) (reflect.Type, reflect.Value) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		if v.IsValid() {
			if v.IsNil() {
				v = reflect.Value{}
			} else {
				v = v.Elem()
			}
		}
	}
	return t, v
}

// decodeEmpty returns what YAML decoding of an empty mapping makes of t: the defaults its
// UnmarshalYAML fills in, or the zero value.
func decodeEmpty(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if err := yaml.Unmarshal([]byte("{}"), p.Interface()); err != nil {
		return reflect.Zero(t)
	}
	return p.Elem()
}

// scalars name the types written as one scalar value, struct-typed ones included.
var scalars = map[reflect.Type]string{
	reflect.TypeFor[time.Duration]():  "duration",
	reflect.TypeFor[model.Duration](): "duration",
}

// typeName says how a value of type t is written.
func (w *walker) typeName(t reflect.Type) string {
	t, _ = deref(t, reflect.Value{})
	if s, ok := scalars[t]; ok {
		return s
	}
	if n, ok := notes[t]; ok && n.name != "" {
		return n.name
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int (≥ 0)"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Struct:
		return "object"
	case reflect.Slice, reflect.Array:
		e := w.typeName(t.Elem())
		if e == "object" {
			return "list of objects"
		}
		return "list of " + e
	case reflect.Map:
		e := w.typeName(t.Elem())
		if e == "object" {
			return "map of objects"
		}
		return "map of " + e
	}
	return t.String()
}

// formatValue writes a default value as YAML on one line; "" for empty values and objects.
func formatValue(v reflect.Value) string {
	if !v.IsValid() {
		return ""
	}
	t, v := deref(v.Type(), v)
	if !v.IsValid() {
		return ""
	}
	if n, ok := notes[t]; ok && n.format != nil {
		return n.format(v)
	}
	switch t.Kind() {
	case reflect.Struct:
		if _, ok := scalars[t]; !ok {
			return ""
		}
	case reflect.String, reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return ""
		}
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = formatValue(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Map:
		keys := v.MapKeys()
		items := make([]string, 0, len(keys))
		for _, k := range keys {
			items = append(items, formatValue(k)+": "+formatValue(v.MapIndex(k)))
		}
		slices.Sort(items)
		return "{" + strings.Join(items, ", ") + "}"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if s, ok := v.Interface().(fmt.Stringer); ok && t != reflect.TypeFor[time.Duration]() {
			return s.String() // a size such as 256KiB
		}
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return model.Duration(d).String()
	}
	b, err := yaml.Marshal(v.Interface())
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	return strings.TrimSpace(string(b))
}

// fieldKeys writes the Go field names a doc comment mentions ("MinBackoff and MaxBackoff
// bound ...", "joined with Separator") as the YAML keys the user writes ("`min_backoff` and
// `max_backoff` bound ...", "joined with `separator`"). A name in capitals only (URL, TLS)
// is taken for a field name only where the comment starts with it: elsewhere it is more
// likely the word. Code spans and qualified names (pipeline.Options) are left alone.
func fieldKeys(doc string, keys map[string]string) string {
	var out strings.Builder
	inCode := false
	for i := 0; i < len(doc); {
		c := doc[i]
		if c == '`' {
			inCode = !inCode
		}
		if inCode || !isIdent(c) {
			out.WriteByte(c)
			i++
			continue
		}
		end := i
		for end < len(doc) && isIdent(doc[end]) {
			end++
		}
		word := doc[i:end]
		key, ok := keys[word]
		qualified := i > 0 && doc[i-1] == '.' || end < len(doc) && doc[end] == '.' && end+1 < len(doc) && isIdent(doc[end+1])
		if ok && !qualified && (i == 0 || strings.ToUpper(word) != word) {
			out.WriteString("`" + key + "`")
		} else {
			out.WriteString(word)
		}
		i = end
	}
	return out.String()
}

// sameKeys says where the keys of a block that contains itself are listed.
func sameKeys(prefix string) string {
	if prefix == "" {
		return " Takes the component's own keys."
	}
	return fmt.Sprintf(" Takes the same keys as `%s`.", strings.TrimSuffix(prefix, "."))
}
