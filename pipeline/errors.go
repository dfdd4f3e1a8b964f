package pipeline

import (
	"errors"
	"fmt"
)

// FieldError is a validation error that names the YAML path of the offending field
// (for example "endpoint.url" or "rules[2].regex"), so that the config loader can point at
// its file and line.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Field returns a *FieldError for field; the message is formatted like fmt.Errorf.
func Field(field, format string, a ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, a...)}
}

// Nest prefixes the field path of every FieldError in err (joined errors included) with
// parent, so nested structs can validate themselves with local names.
func Nest(parent string, err error) error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, Nest(parent, e))
		}
		return errors.Join(out...)
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		f := parent
		if fe.Field != "" {
			if fe.Field[0] == '[' {
				f += fe.Field
			} else {
				f += "." + fe.Field
			}
		}
		return &FieldError{Field: f, Err: fe.Err}
	}
	return &FieldError{Field: parent, Err: err}
}
