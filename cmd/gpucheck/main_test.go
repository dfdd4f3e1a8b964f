package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no driver", []string{"-library-path", "/nonexistent/libnvidia-ml.so.1"}, 1, "no NVIDIA GPU could be read"},
		{"unknown counter", []string{"-counters", "DCGM_FI_DEV_NOPE"}, 2, `unknown or unsupported DCGM field "DCGM_FI_DEV_NOPE"`},
		{"bad flag", []string{"-nope"}, 2, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.Equal(t, tc.code, run(tc.args, &out, &errOut))
			require.Contains(t, errOut.String(), tc.stderr)
		})
	}
}
