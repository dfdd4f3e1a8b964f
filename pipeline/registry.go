package pipeline

import (
	"fmt"
	"sort"
)

// Registration declares one component type.
type Registration struct {
	Type string // "prometheus.scrape"
	// Args returns a pointer to a new Arguments value filled with defaults.
	Args func() Arguments
	// Exports lists the edge kinds other components may reference this one for.
	Exports []EdgeKind
	// New builds the component. It must not start goroutines; Run does.
	New func(opts Options, args Arguments) (Component, error)
}

// Registry maps component types to their registration. Build it once, explicitly.
type Registry struct {
	byType map[string]Registration
}

// NewRegistry returns a registry holding regs; duplicate or incomplete registrations are
// programming errors and reported as such.
func NewRegistry(regs ...Registration) (*Registry, error) {
	r := &Registry{byType: make(map[string]Registration, len(regs))}
	for _, reg := range regs {
		if reg.Type == "" || reg.Args == nil || reg.New == nil {
			return nil, fmt.Errorf("registration %q is incomplete", reg.Type)
		}
		if _, dup := r.byType[reg.Type]; dup {
			return nil, fmt.Errorf("component type %q registered twice", reg.Type)
		}
		r.byType[reg.Type] = reg
	}
	return r, nil
}

// Lookup returns the registration of a type.
func (r *Registry) Lookup(typ string) (Registration, bool) {
	reg, ok := r.byType[typ]
	return reg, ok
}

// Types returns every registered type, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.byType))
	for t := range r.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Exports reports whether components of type typ export kind.
func (reg Registration) ExportsKind(kind EdgeKind) bool {
	for _, k := range reg.Exports {
		if k == kind {
			return true
		}
	}
	return false
}
