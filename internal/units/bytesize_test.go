package units

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"1GiB", 1 << 30, false},
		{"512MiB", 512 << 20, false},
		{"64KiB", 64 << 10, false},
		{"100MB", 100e6, false},
		{"2TB", 2e12, false},
		{"1048576", 1 << 20, false},
		{"10B", 10, false},
		{" 3 GiB ", 3 << 30, false},
		{"1.5GiB", 0, true},
		{"-1", 0, true},
		{"GiB", 0, true},
		{"10XB", 0, true},
		{"99999999999TiB", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseByteSize(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	var s struct {
		A ByteSize `yaml:"a"`
		B ByteSize `yaml:"b"`
	}
	require.NoError(t, yaml.Unmarshal([]byte("a: 2048\nb: 1GiB"), &s))
	require.Equal(t, ByteSize(2048), s.A)
	require.Equal(t, ByteSize(1<<30), s.B)
	require.Error(t, yaml.Unmarshal([]byte("a: lots"), &s))
	require.Equal(t, "2KiB", ByteSize(2048).String())
	require.Equal(t, "1000B", ByteSize(1000).String())
}
