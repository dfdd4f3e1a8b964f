package pipelinetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline"
)

// DecodeArgs decodes text strictly (unknown fields fail) into fresh Arguments from reg, with
// their defaults, as the config loader does. It does not validate them.
func DecodeArgs[A pipeline.Arguments](t testing.TB, reg pipeline.Registration, text string) A {
	t.Helper()
	args, ok := reg.Args().(A)
	require.True(t, ok, "%s arguments are %T", reg.Type, reg.Args())
	dec := yaml.NewDecoder(bytes.NewBufferString(text))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(args))
	return args
}

// FieldsOf returns the field path of every error joined in err, in order, walking nested
// joins; a plain error appears as "?" and its message. A nil err has none.
func FieldsOf(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *pipeline.FieldError
		if errors.As(err, &fe) {
			out = append(out, fe.Field)
			return
		}
		out = append(out, "?"+err.Error())
	}
	walk(err)
	return out
}
