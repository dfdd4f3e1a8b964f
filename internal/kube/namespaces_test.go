package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidateNamespaces(t *testing.T) {
	field := func(f, format string, a ...any) error { return fmt.Errorf(f+": "+format, a...) }
	if errs := ValidateNamespaces("namespaces", []string{"shop", "kube-system"}, field); len(errs) != 0 {
		t.Fatalf("valid names refused: %v", errs)
	}
	err := errors.Join(ValidateNamespaces("namespaces.names", []string{"shop", "Bad_NS", "shop"}, field)...)
	for _, want := range []string{`namespaces.names[1]: "Bad_NS"`, `namespaces.names[2]: duplicate namespace "shop"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
