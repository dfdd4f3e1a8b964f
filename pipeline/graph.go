package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Spec is one component of a configuration, decoded and validated.
type Spec struct {
	ID   string // "<type>/<name>"
	Type string
	Name string
	Args Arguments
	// Fingerprint is a canonical form of the arguments as written (after ${VAR} expansion):
	// equal fingerprints mean the component is unchanged by a reload.
	Fingerprint string
	// Locate returns "file:line" of a field path inside the component, for errors.
	Locate func(field string) string
}

func (s Spec) where(field string) string {
	if s.Locate == nil {
		return ""
	}
	return s.Locate(field) + ": "
}

// References returns the edges declared by the spec's arguments.
func (s Spec) References() []Reference {
	if r, ok := s.Args.(Referencer); ok {
		return r.References()
	}
	return nil
}

// ValidateGraph checks that every reference names an existing component that exports the
// right kind of data, that no component references itself, that the graph has no cycle, and
// that no two listen addresses (see Listener) overlap, among the components or with reserved:
// the addresses sonde itself listens on, such as --server.listen.
func ValidateGraph(reg *Registry, specs []Spec, reserved ...ListenAddr) error {
	byID := make(map[string]Spec, len(specs))
	for _, s := range specs {
		byID[s.ID] = s
	}
	var errs []error
	for _, s := range specs {
		for _, ref := range s.References() {
			for i, id := range ref.IDs {
				field := fmt.Sprintf("%s[%d]", ref.Field, i)
				target, ok := byID[id]
				switch {
				case id == s.ID:
					errs = append(errs, fmt.Errorf("%s%s: %s: refers to itself", s.where(field), s.ID, field))
				case !ok:
					errs = append(errs, fmt.Errorf("%s%s: %s: no component %q in this configuration", s.where(field), s.ID, field, id))
				default:
					r, _ := reg.Lookup(target.Type)
					if !r.ExportsKind(ref.Kind) {
						errs = append(errs, fmt.Errorf("%s%s: %s: %q does not accept/export %s (it exports: %s)",
							s.where(field), s.ID, field, id, ref.Kind, kindsString(r.Exports)))
					}
				}
			}
		}
	}
	errs = append(errs, listenErrors(specs, reserved)...)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if cycle := findCycle(specs); cycle != nil {
		first := byID[cycle[0]]
		return fmt.Errorf("%s%s: reference cycle: %s", first.where(""), first.ID, strings.Join(cycle, " -> "))
	}
	return nil
}

func kindsString(ks []EdgeKind) string {
	if len(ks) == 0 {
		return "nothing"
	}
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// deps returns, for each component, the ids it references (its dependencies).
func deps(specs []Spec) map[string][]string {
	out := make(map[string][]string, len(specs))
	for _, s := range specs {
		var d []string
		for _, ref := range s.References() {
			for _, id := range ref.IDs {
				if !slices.Contains(d, id) {
					d = append(d, id)
				}
			}
		}
		out[s.ID] = d
	}
	return out
}

func findCycle(specs []Spec) []string {
	d := deps(specs)
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(id string) bool
	visit = func(id string) bool {
		color[id] = grey
		stack = append(stack, id)
		for _, n := range d[id] {
			switch color[n] {
			case grey:
				i := slices.Index(stack, n)
				cycle = append(append([]string(nil), stack[i:]...), n)
				return true
			case white:
				if _, ok := d[n]; ok && visit(n) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return false
	}
	for _, s := range specs {
		if color[s.ID] == white && visit(s.ID) {
			return cycle
		}
	}
	return nil
}

// StartOrder returns the ids with every component after the components it references:
// sinks first, sources last. Stopping goes in the reverse order, sources first, so queues
// drain. The graph must be acyclic.
func StartOrder(specs []Spec) []string {
	d := deps(specs)
	done := map[string]bool{}
	var out []string
	var visit func(id string)
	visit = func(id string) {
		if done[id] {
			return
		}
		done[id] = true
		for _, n := range d[id] {
			if _, ok := d[n]; ok {
				visit(n)
			}
		}
		out = append(out, id)
	}
	for _, s := range specs {
		visit(s.ID)
	}
	return out
}
