package pipeline

import (
	"fmt"
	"slices"
	"sort"
)

// Registration declares one component type. Build it with Register; a literal
// Registration (tests' fakes) works too but skips the checks Register adds.
type Registration struct {
	Type string // "prometheus.scrape"
	// Args returns a pointer to a new Arguments value filled with defaults.
	Args func() Arguments
	// Exports lists the edge kinds other components may reference this one for. A component
	// exports a kind by implementing the kind's interface (see kindInterfaces); the two are
	// checked against each other at registration and when an instance is built.
	Exports []EdgeKind
	// New builds the component. It must not start goroutines; Run does.
	New func(opts Options, args Arguments) (Component, error)
	// Update applies new arguments to a running instance in place; nil when the type's
	// instances are restarted for new arguments instead.
	Update func(c Component, args Arguments) error

	implements []EdgeKind // what the component type implements, when known
	known      bool       // implements is known (Register with a concrete component type)
}

// Updater is implemented by components that can apply new arguments in place. Update may be
// called concurrently with Run; it must not block for long. Its arguments are checked (type
// and Validate) before it is called. A component that does not implement Updater is
// restarted when its arguments change.
type Updater[A Arguments] interface {
	Update(args A) error
}

// Register declares a component type from its typed parts: defaults returns new arguments
// filled with defaults, build makes a component from checked arguments. It does what every
// component would otherwise repeat: the arguments' type assertion and Validate before build
// and Update, and Update wired when C implements Updater[A]. The edge kinds C implements are
// recorded for NewRegistry to check against exports.
func Register[A Arguments, C Component](typ string, defaults func() A, build func(Options, A) (C, error), exports ...EdgeKind) Registration {
	var zero C
	reg := Registration{
		Type:    typ,
		Exports: exports,
		Args:    func() Arguments { return defaults() },
		New: func(opts Options, args Arguments) (Component, error) {
			a, err := checkArgs[A](typ, args)
			if err != nil {
				return nil, err
			}
			c, err := build(opts, a)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
	}
	if _, ok := any(zero).(Updater[A]); ok {
		reg.Update = func(c Component, args Arguments) error {
			a, err := checkArgs[A](typ, args)
			if err != nil {
				return err
			}
			u, ok := c.(Updater[A])
			if !ok {
				return fmt.Errorf("%s: %T cannot update in place", typ, c)
			}
			return u.Update(a)
		}
	}
	if any(zero) != nil { // C is a concrete type (an interface type's zero value is nil)
		reg.implements, reg.known = implementedKinds(zero), true
	}
	return reg
}

// checkArgs asserts the arguments' type and validates them.
func checkArgs[A Arguments](typ string, args Arguments) (A, error) {
	a, ok := args.(A)
	if !ok {
		return a, fmt.Errorf("%s: unexpected arguments type %T", typ, args)
	}
	return a, a.Validate()
}

// Registry maps component types to their registration. Build it once, explicitly.
type Registry struct {
	byType map[string]Registration
}

// NewRegistry returns a registry holding regs; duplicate or incomplete registrations, and
// ones whose exports differ from what the component implements, are programming errors and
// reported as such.
func NewRegistry(regs ...Registration) (*Registry, error) {
	r := &Registry{byType: make(map[string]Registration, len(regs))}
	for _, reg := range regs {
		if reg.Type == "" || reg.Args == nil || reg.New == nil {
			return nil, fmt.Errorf("registration %q is incomplete", reg.Type)
		}
		if _, dup := r.byType[reg.Type]; dup {
			return nil, fmt.Errorf("component type %q registered twice", reg.Type)
		}
		if reg.known {
			if err := exportsMatch(reg.Type, reg.Exports, reg.implements); err != nil {
				return nil, err
			}
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

// ExportsKind reports whether components of this type export kind.
func (reg Registration) ExportsKind(kind EdgeKind) bool {
	return slices.Contains(reg.Exports, kind)
}

// CheckExports reports an error when component c does not implement exactly the edge kinds
// reg exports: its senders would find nothing behind the handle and wait on it forever, or
// a kind it implements could never be referenced.
func (reg Registration) CheckExports(c Component) error {
	return exportsMatch(reg.Type, reg.Exports, implementedKinds(c))
}
