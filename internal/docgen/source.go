package docgen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// pkgSource is what the doc comments of one package say: its package comment, and for each
// named struct type its doc and its fields' docs.
type pkgSource struct {
	doc   string               // the package comment
	types map[string]*typeDocs // by type name
}

// typeDocs are the doc comments of one struct type.
type typeDocs struct {
	doc    string
	fields map[string]string // by Go field name (an embedded field by its type's name)
}

// sources parses packages' Go files (tests excluded) once each, by import path.
type sources struct {
	module string // the module path, e.g. github.com/sondehq/sonde
	root   string // the module's directory
	pkgs   map[string]*pkgSource
}

func newSources(root string) (*sources, error) {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	var module string
	for _, line := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			module = strings.Trim(strings.TrimSpace(m), `"`)
			break
		}
	}
	if module == "" {
		return nil, fmt.Errorf("%s/go.mod: no module line", root)
	}
	return &sources{module: module, root: root, pkgs: map[string]*pkgSource{}}, nil
}

// local reports whether an import path belongs to this module, whose source is read.
func (s *sources) local(pkgPath string) bool {
	return pkgPath == s.module || strings.HasPrefix(pkgPath, s.module+"/")
}

// rel returns a local import path relative to the module root ("components/loki/process").
func (s *sources) rel(pkgPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(pkgPath, s.module), "/")
}

// pkg returns the parsed docs of a local package.
func (s *sources) pkg(pkgPath string) (*pkgSource, error) {
	if p, ok := s.pkgs[pkgPath]; ok {
		return p, nil
	}
	dir := filepath.Join(s.root, filepath.FromSlash(s.rel(pkgPath)))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	p := &pkgSource{types: map[string]*typeDocs{}}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Doc != nil && (p.doc == "" || name == "doc.go") {
			p.doc = f.Doc.Text()
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				if _, dup := p.types[ts.Name.Name]; dup {
					continue // the same type in files for other platforms
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				p.types[ts.Name.Name] = structDocs(doc, st)
			}
		}
	}
	s.pkgs[pkgPath] = p
	return p, nil
}

// structDocs collects the docs of a struct's fields. A field without a comment of its own
// shares the comment of the field before it when that comment starts by naming it
// ("MinBackoff and MaxBackoff bound ...", written above the first of the two).
func structDocs(doc *ast.CommentGroup, st *ast.StructType) *typeDocs {
	td := &typeDocs{doc: doc.Text(), fields: map[string]string{}}
	prev := ""
	for _, f := range st.Fields.List {
		text := f.Doc.Text()
		if text == "" {
			text = f.Comment.Text()
		}
		names := fieldNames(f)
		if text == "" && prev != "" && len(names) > 0 && slices.Contains(leadingNames(prev), names[0]) {
			text = prev
		}
		text = strings.Join(strings.Fields(text), " ") // one line: it goes into a table cell
		for _, n := range names {
			td.fields[n] = text
		}
		prev = text
	}
	return td
}

// fieldNames are the Go names a field declares; an embedded field is named by its type.
func fieldNames(f *ast.Field) []string {
	if len(f.Names) > 0 {
		out := make([]string, len(f.Names))
		for i, n := range f.Names {
			out[i] = n.Name
		}
		return out
	}
	t := f.Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.SelectorExpr:
			return []string{x.Sel.Name}
		case *ast.Ident:
			return []string{x.Name}
		case *ast.IndexExpr: // a generic type
			t = x.X
		default:
			return nil
		}
	}
}

// leadingNames returns the names a comment starts with: "A and B", "A, B or C".
func leadingNames(doc string) []string {
	var names []string
	for {
		end := 0
		for end < len(doc) && isIdent(doc[end]) {
			end++
		}
		if end == 0 {
			return names
		}
		names = append(names, doc[:end])
		doc = doc[end:]
		sep := ""
		for _, s := range []string{" and ", ", and ", ", ", " or "} {
			if strings.HasPrefix(doc, s) {
				sep = s
				break
			}
		}
		if sep == "" {
			return names
		}
		doc = doc[len(sep):]
	}
}

func isIdent(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
