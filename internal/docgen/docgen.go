// Package docgen writes the reference pages of docs/components/ from the component types
// of a registry: each type's arguments (YAML key, type, default, description) are found by
// walking its Arguments type by reflection, the defaults are those of its DefaultArguments,
// and the descriptions are the doc comments of the struct fields, read from the Go source
// of the package that defines each type. It also lists what has no description, so that a
// test can fail on it. Types of other modules are described by the notes in notes.go.
package docgen

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sondehq/sonde/pipeline"
)

// Dir is where the pages go, relative to the module root.
const Dir = "docs/components"

// Component is the documentation of one registered component type.
type Component struct {
	Type    string
	Package string              // the package defining its Arguments, relative to the module root
	Summary string              // one sentence: what it does
	Intro   string              // the first paragraph of its package comment
	Notes   []string            // the paragraphs of its Arguments type's comment
	Example string              // the YAML example of its Arguments type's comment
	Exports []pipeline.EdgeKind // what other components may reference it for
	Rows    []Row
}

// Result is what Generate found and wrote.
type Result struct {
	Components []Component
	Missing    []Missing         // components and arguments without a description
	Files      map[string][]byte // page file name (under Dir) → content
}

// Generate documents every type of reg. root is the module's directory: the source of
// each package is read from there.
func Generate(reg *pipeline.Registry, root string) (*Result, error) {
	src, err := newSources(root)
	if err != nil {
		return nil, err
	}
	anchors, err := guideAnchors(filepath.Join(root, "docs", "components.md"))
	if err != nil {
		return nil, err
	}
	res := &Result{Files: map[string][]byte{}}
	for _, typ := range reg.Types() {
		r, _ := reg.Lookup(typ)
		c, missing, err := document(src, r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", typ, err)
		}
		res.Components = append(res.Components, c)
		res.Missing = append(res.Missing, missing...)
		res.Files[typ+".md"] = page(c, anchors[typ])
	}
	res.Files["README.md"] = index(res.Components)
	return res, nil
}

// document reads one registration's arguments and descriptions.
func document(src *sources, r pipeline.Registration) (Component, []Missing, error) {
	args := reflect.ValueOf(r.Args())
	t, v := deref(args.Type(), args)
	if t.Kind() != reflect.Struct {
		return Component{}, nil, fmt.Errorf("arguments type %s is not a struct", args.Type())
	}
	if !src.local(t.PkgPath()) {
		return Component{}, nil, fmt.Errorf("arguments type %s is not defined in module %s", t, src.module)
	}
	pkg, err := src.pkg(t.PkgPath())
	if err != nil {
		return Component{}, nil, err
	}
	c := Component{Type: r.Type, Package: src.rel(t.PkgPath()), Exports: r.Exports}
	c.Intro, c.Summary = intro(pkg.doc, r.Type)
	if td := pkg.types[t.Name()]; td != nil {
		c.Notes, c.Example = argumentsDoc(td.doc, r.Type)
	}
	w := &walker{src: src, typ: r.Type, expanded: map[reflect.Type]string{t: ""}}
	w.structFields(t, v, "")
	if w.err != nil {
		return Component{}, nil, w.err
	}
	c.Rows = w.rows
	var missing []Missing
	if c.Summary == "" {
		missing = append(missing, Missing{Type: r.Type, Where: c.Package + ": the package comment (\"Package x implements " + r.Type + ": what it does.\")"})
	}
	return c, append(missing, w.missing...), nil
}

// intro returns the first paragraph of a package comment, without its "Package x
// implements <type>:" lead, and its first sentence.
func intro(doc, typ string) (para, summary string) {
	para, _, _ = strings.Cut(strings.TrimSpace(doc), "\n\n")
	para = strings.Join(strings.Fields(para), " ")
	lead := regexp.MustCompile(`^Package \w+ (implements|is) (the )?` + regexp.QuoteMeta(typ) + `( component)?\s*[:,]\s*`)
	if l := lead.FindString(para); l != "" {
		para = para[len(l):]
		if rest, ok := strings.CutPrefix(para, "it "); ok && !regexp.MustCompile(`^(is|has|was) `).MatchString(rest) {
			para = rest // "it runs ..." → "Runs ..."
		}
		para = capitalize(para)
	}
	return para, firstSentence(para)
}

// argumentsDoc splits the comment of an Arguments type into its paragraphs, without the
// "Arguments configure <type>." lead, and its indented example.
func argumentsDoc(doc, typ string) (paras []string, example string) {
	var code, text []string
	flush := func() {
		if p := strings.Join(strings.Fields(strings.Join(text, " ")), " "); p != "" {
			paras = append(paras, p)
		}
		text = nil
	}
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "\t"):
			code = append(code, strings.TrimPrefix(line, "\t"))
		case strings.TrimSpace(line) == "":
			flush()
		default:
			text = append(text, line)
		}
	}
	flush()
	if len(paras) > 0 {
		lead := regexp.MustCompile(`^Arguments (configures?|are the arguments of) ` + regexp.QuoteMeta(typ) + `\.\s*`)
		if l := lead.FindString(paras[0]); l != "" {
			if paras[0] = paras[0][len(l):]; paras[0] == "" {
				paras = paras[1:]
			}
		}
	}
	return paras, strings.Join(code, "\n")
}

// firstSentence returns s up to the first full stop followed by a space and a capital
// letter, or all of it.
func firstSentence(s string) string {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' {
			r, _ := utf8.DecodeRuneInString(s[i+2:])
			if unicode.IsUpper(r) && !strings.HasSuffix(s[:i], " e.g") && !strings.HasSuffix(s[:i], " i.e") {
				return s[:i+1]
			}
		}
	}
	return s
}

// capitalize writes the first word of s with a capital, unless it is a name
// (node_exporter's, otelcol.receiver.otlp).
func capitalize(s string) string {
	first, _, _ := strings.Cut(s, " ")
	if strings.ContainsAny(first, "_./") {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// guideAnchors maps the component types that have a section of their own in the guide
// (docs/components.md, "## <type>") to that section's anchor.
func guideAnchors(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			h = strings.TrimSpace(h)
			out[h] = githubAnchor(h)
		}
	}
	return out, nil
}

// githubAnchor is the fragment GitHub gives a heading: lower case, punctuation other than
// '-' and '_' dropped, spaces as '-'.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
