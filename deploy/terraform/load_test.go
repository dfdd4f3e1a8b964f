package terraform_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// module is the Terraform module in this folder, parsed.
type module struct {
	// Dir is the module's directory (path.module).
	Dir string
	// Files maps each .tf file's name to its text.
	Files map[string][]byte
	// Variables by name.
	Variables map[string]*variable
	// Locals by name.
	Locals map[string]hclsyntax.Expression
	// Release is the helm_release resource block.
	Release *hclsyntax.Block
	// Outputs by name.
	Outputs map[string]hclsyntax.Expression
}

// variable is a variable block.
type variable struct {
	Name        string
	HasType     bool
	Type        cty.Type
	Defaults    *typeexpr.Defaults
	Description string
	// Default is the default converted to Type; cty.NilVal when there is none.
	Default     cty.Value
	Validations []validation
}

// validation is a validation block of a variable.
type validation struct {
	Condition hclsyntax.Expression
	Message   string
}

// releaseResource names the module's helm_release.
const releaseResource = "sonde"

// loadModule parses every .tf file of dir and fails the test on anything Terraform would
// reject at parse time or that the module should not contain (a provider block, a second
// release).
func loadModule(t *testing.T, dir string) *module {
	t.Helper()
	m := &module{
		Dir:       dir,
		Files:     map[string][]byte{},
		Variables: map[string]*variable{},
		Locals:    map[string]hclsyntax.Expression{},
		Outputs:   map[string]hclsyntax.Expression{},
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	require.NoError(t, err)
	require.NotEmpty(t, names, "no .tf files in %s", dir)
	for _, name := range names {
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		m.Files[filepath.Base(name)] = src
		file, diags := hclsyntax.ParseConfig(src, filepath.Base(name), hcl.InitialPos)
		require.False(t, diags.HasErrors(), "%s", diags)
		body := file.Body.(*hclsyntax.Body)
		require.Empty(t, body.Attributes, "%s: top-level attributes", name)
		for _, b := range body.Blocks {
			switch b.Type {
			case "terraform":
			case "variable":
				v := loadVariable(t, b)
				require.NotContains(t, m.Variables, v.Name, "variable %q declared twice", v.Name)
				m.Variables[v.Name] = v
			case "locals":
				for name, a := range b.Body.Attributes {
					require.NotContains(t, m.Locals, name, "local %q declared twice", name)
					m.Locals[name] = a.Expr
				}
			case "resource":
				require.Equal(t, []string{"helm_release", releaseResource}, b.Labels, "%s: the module's only resource is helm_release.%s", b.Range(), releaseResource)
				require.Nil(t, m.Release, "helm_release declared twice")
				m.Release = b
			case "output":
				m.Outputs[b.Labels[0]] = b.Body.Attributes["value"].Expr
			default:
				// A module configures no provider: the caller's provider "helm" (its cluster
				// and credentials) is passed down.
				t.Fatalf("%s: block %s has no place in this module", b.Range(), b.Type)
			}
		}
	}
	require.NotNil(t, m.Release, "no helm_release")
	return m
}

func loadVariable(t *testing.T, b *hclsyntax.Block) *variable {
	t.Helper()
	require.Len(t, b.Labels, 1)
	v := &variable{Name: b.Labels[0], Type: cty.DynamicPseudoType}
	for name, a := range b.Body.Attributes {
		switch name {
		case "type":
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
			require.False(t, diags.HasErrors(), "variable %q: type: %s", v.Name, diags)
			v.HasType, v.Type, v.Defaults = true, ty, defaults
		case "description":
			d, diags := a.Expr.Value(nil)
			require.False(t, diags.HasErrors(), "variable %q: description: %s", v.Name, diags)
			require.Equal(t, cty.String, d.Type(), "variable %q: description", v.Name)
			v.Description = d.AsString()
		case "default":
		case "nullable", "sensitive":
		default:
			t.Fatalf("variable %q: unknown argument %s", v.Name, name)
		}
	}
	if a, ok := b.Body.Attributes["default"]; ok {
		d, diags := a.Expr.Value(nil)
		require.False(t, diags.HasErrors(), "variable %q: default: %s", v.Name, diags)
		var err error
		v.Default, err = v.convert(d)
		require.NoError(t, err, "variable %q: default", v.Name)
	}
	for _, vb := range b.Body.Blocks {
		require.Equal(t, "validation", vb.Type, "variable %q: block %s", v.Name, vb.Type)
		cond, ok := vb.Body.Attributes["condition"]
		require.True(t, ok, "variable %q: validation without condition", v.Name)
		msg, ok := vb.Body.Attributes["error_message"]
		require.True(t, ok, "variable %q: validation without error_message", v.Name)
		mv, diags := msg.Expr.Value(nil)
		require.False(t, diags.HasErrors(), "variable %q: error_message: %s", v.Name, diags)
		v.Validations = append(v.Validations, validation{Condition: cond.Expr, Message: mv.AsString()})
	}
	return v
}

// convert gives a value the variable's type, as Terraform does with a tfvars value: the
// optional attributes' defaults first, then a type conversion.
func (v *variable) convert(val cty.Value) (cty.Value, error) {
	if v.Defaults != nil {
		val = v.Defaults.Apply(val)
	}
	out, err := convert.Convert(val, v.Type)
	if err != nil {
		return cty.NilVal, fmt.Errorf("var.%s: %w", v.Name, err)
	}
	return out, nil
}

// functions are the Terraform functions the module uses. yamlencode writes JSON, which is
// YAML as well (helm reads values files with a YAML 1.2 parser), so the values reach helm
// as they would from Terraform, in another spelling.
var functions = map[string]function.Function{
	"can":        tryfunc.CanFunc,
	"coalesce":   stdlib.CoalesceFunc,
	"concat":     stdlib.ConcatFunc,
	"contains":   stdlib.ContainsFunc,
	"length":     lengthFunc,
	"merge":      stdlib.MergeFunc,
	"yamlencode": yamlencodeFunc,
}

// lengthFunc is Terraform's length: characters of a string, elements of a collection.
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return stdlib.Length(args[0])
	},
})

var yamlencodeFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowNull: true, AllowDynamicType: true}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := ctyjson.Marshal(args[0], args[0].Type())
		if err != nil {
			return cty.NilVal, err
		}
		return cty.StringVal(string(b)), nil
	},
})

// evaluation is the module evaluated with a set of variables.
type evaluation struct {
	Vars   map[string]cty.Value
	Locals map[string]cty.Value
	// Release holds the helm_release arguments.
	Release map[string]cty.Value
}

// String returns a release argument that must be a known string.
func (e *evaluation) String(t *testing.T, name string) string {
	t.Helper()
	v, ok := e.Release[name]
	require.True(t, ok, "helm_release has no %s", name)
	require.Equal(t, cty.String, v.Type(), "helm_release.%s", name)
	return v.AsString()
}

// ValuesDocs returns the helm_release values documents.
func (e *evaluation) ValuesDocs(t *testing.T) []string {
	t.Helper()
	v, ok := e.Release["values"]
	require.True(t, ok, "helm_release has no values")
	var docs []string
	for it := v.ElementIterator(); it.Next(); {
		_, d := it.Element()
		docs = append(docs, d.AsString())
	}
	return docs
}

// eval evaluates the module with the given variables (unset ones get their default): the
// variables' validations, every local and the helm_release's arguments. A validation that
// fails is an error that names the variable, as Terraform's does.
func (m *module) eval(vars map[string]cty.Value) (*evaluation, error) {
	e := &evaluation{Vars: map[string]cty.Value{}, Locals: map[string]cty.Value{}, Release: map[string]cty.Value{}}
	for name := range vars {
		if _, ok := m.Variables[name]; !ok {
			return nil, fmt.Errorf("var.%s: not declared by the module", name)
		}
	}
	for name, v := range m.Variables {
		val, ok := vars[name]
		switch {
		case ok:
			var err error
			if val, err = v.convert(val); err != nil {
				return nil, err
			}
		case v.Default != cty.NilVal:
			val = v.Default
		default:
			return nil, fmt.Errorf("var.%s: required", name)
		}
		e.Vars[name] = val
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(e.Vars),
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(m.Dir)}),
		},
		Functions: functions,
	}
	var errs []error
	for _, name := range sortedKeys(m.Variables) {
		for _, val := range m.Variables[name].Validations {
			ok, diags := val.Condition.Value(ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("var.%s: validation: %s", name, diags)
			}
			if ok.False() {
				errs = append(errs, fmt.Errorf("var.%s: %s", name, val.Message))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Locals in dependency order: each round evaluates those whose locals are all known.
	for len(e.Locals) < len(m.Locals) {
		progress := false
		for _, name := range sortedKeys(m.Locals) {
			if _, done := e.Locals[name]; done {
				continue
			}
			expr := m.Locals[name]
			if !localsKnown(expr, e.Locals) {
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(e.Locals)
			val, diags := expr.Value(ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("local.%s: %s", name, diags)
			}
			e.Locals[name] = val
			progress = true
		}
		if !progress {
			return nil, errors.New("locals refer to each other in a cycle or to undeclared locals")
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(e.Locals)
	for name, a := range m.Release.Body.Attributes {
		val, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, fmt.Errorf("helm_release.%s.%s: %s", releaseResource, name, diags)
		}
		e.Release[name] = val
	}
	return e, nil
}

func localsKnown(expr hclsyntax.Expression, known map[string]cty.Value) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		if _, ok := known[tr[1].(hcl.TraverseAttr).Name]; !ok {
			return false
		}
	}
	return true
}

// loadTfvars reads a .tfvars file; like Terraform, it allows no variable or function
// references there.
func loadTfvars(t *testing.T, name string) map[string]cty.Value {
	t.Helper()
	src, err := os.ReadFile(name)
	require.NoError(t, err)
	file, diags := hclsyntax.ParseConfig(src, filepath.Base(name), hcl.InitialPos)
	require.False(t, diags.HasErrors(), "%s", diags)
	attrs, diags := file.Body.JustAttributes()
	require.False(t, diags.HasErrors(), "%s", diags)
	vars := map[string]cty.Value{}
	for name, a := range attrs {
		v, diags := a.Expr.Value(nil)
		require.False(t, diags.HasErrors(), "%s", diags)
		vars[name] = v
	}
	return vars
}

// chartMapping returns, for each variable local.chart_values refers to, the chart value
// paths (dotted, as in values.yaml) where it does. The expression is walked as written:
// object constructors give the path, a { for k, v in {...} : ... } filter is looked through
// to its collection, and anything else is one value at the path it stands.
func (m *module) chartMapping(t *testing.T) map[string][]string {
	t.Helper()
	expr, ok := m.Locals["chart_values"]
	require.True(t, ok, "no local chart_values")
	out := map[string][]string{}
	var walk func(e hclsyntax.Expression, path []string)
	walk = func(e hclsyntax.Expression, path []string) {
		switch e := e.(type) {
		case *hclsyntax.ObjectConsExpr:
			for _, item := range e.Items {
				key, diags := item.KeyExpr.Value(nil)
				require.False(t, diags.HasErrors(), "chart_values key at %s: %s", item.KeyExpr.Range(), diags)
				walk(item.ValueExpr, append(append([]string(nil), path...), key.AsString()))
			}
			return
		case *hclsyntax.ForExpr:
			if e.KeyExpr != nil {
				walk(e.CollExpr, path)
				return
			}
		}
		p := strings.Join(path, ".")
		for _, tr := range e.Variables() {
			switch tr.RootName() {
			case "var":
				name := tr[1].(hcl.TraverseAttr).Name
				out[name] = append(out[name], p)
			case "local":
				t.Fatalf("chart_values.%s refers to a local: keep the mapping in one place", p)
			}
		}
	}
	walk(expr, nil)
	for name, paths := range out {
		sort.Strings(paths)
		out[name] = compact(paths)
	}
	return out
}

// releaseVariables returns the variables the helm_release's arguments refer to directly.
func (m *module) releaseVariables() map[string]bool {
	out := map[string]bool{}
	for _, a := range m.Release.Body.Attributes {
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() == "var" {
				out[tr[1].(hcl.TraverseAttr).Name] = true
			}
		}
	}
	for _, name := range []string{"chart", "values"} {
		if expr, ok := m.Locals[name]; ok {
			for _, tr := range expr.Variables() {
				if tr.RootName() == "var" {
					out[tr[1].(hcl.TraverseAttr).Name] = true
				}
			}
		}
	}
	return out
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
