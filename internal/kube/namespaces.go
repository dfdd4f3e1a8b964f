package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ValidateNamespaces checks a list of namespace names, the argument field names (e.g.
// "namespaces"): each must be a DNS-1123 label, and none may be there twice. field builds
// each error (pipeline.Field).
func ValidateNamespaces(list string, names []string, field FieldFunc) []error {
	var errs []error
	seen := make(map[string]bool, len(names))
	for i, ns := range names {
		f := fmt.Sprintf("%s[%d]", list, i)
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, field(f, "%q: %s", ns, msg))
		}
		if seen[ns] {
			errs = append(errs, field(f, "duplicate namespace %q", ns))
		}
		seen[ns] = true
	}
	return errs
}
