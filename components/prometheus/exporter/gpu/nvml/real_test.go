//go:build cgo

package nvml

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	gonvml "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/require"
)

// TestInitWithoutLibrary loads a library that is not there, as on a node without the
// NVIDIA driver: Init fails cleanly with ErrLibraryNotFound, no other call is made.
func TestInitWithoutLibrary(t *testing.T) {
	lib := New("/nonexistent/libnvidia-ml.so.1")
	err := lib.Init()
	require.ErrorIs(t, err, ErrLibraryNotFound)
	require.Contains(t, err.Error(), "libnvidia-ml.so could not be loaded")
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		ret  gonvml.Return
		kind error
	}{
		{gonvml.ERROR_LIBRARY_NOT_FOUND, ErrLibraryNotFound},
		{gonvml.ERROR_DRIVER_NOT_LOADED, ErrDriverNotLoaded},
		{gonvml.ERROR_NO_PERMISSION, ErrNoPermission},
		{gonvml.ERROR_NOT_SUPPORTED, ErrNotSupported},
		{gonvml.ERROR_FUNCTION_NOT_FOUND, ErrNotSupported},
		{gonvml.ERROR_GPU_IS_LOST, ErrGPULost},
		{gonvml.ERROR_NOT_FOUND, ErrNotFound},
		{gonvml.ERROR_UNKNOWN, nil},
	} {
		t.Run(tc.ret.String(), func(t *testing.T) {
			err := wrap("nvmlDeviceGetX", tc.ret)
			var e *Error
			require.True(t, errors.As(err, &e))
			require.Equal(t, int(tc.ret), e.Code)
			require.Equal(t, "nvmlDeviceGetX", e.Op)
			if tc.kind != nil {
				require.ErrorIs(t, err, tc.kind)
			} else {
				for _, k := range []error{ErrNotSupported, ErrGPULost, ErrLibraryNotFound} {
					require.NotErrorIs(t, err, k)
				}
			}
		})
	}
}

func TestFieldValue(t *testing.T) {
	put64 := func(v uint64) (b [8]byte) { binary.LittleEndian.PutUint64(b[:], v); return }
	put32 := func(v uint32) (b [8]byte) { binary.LittleEndian.PutUint32(b[:], v); return }
	for _, tc := range []struct {
		name string
		typ  gonvml.ValueType
		raw  [8]byte
		want float64
	}{
		{"double", gonvml.VALUE_TYPE_DOUBLE, put64(math.Float64bits(42.5)), 42.5},
		{"uint", gonvml.VALUE_TYPE_UNSIGNED_INT, put32(43), 43},
		{"ulong", gonvml.VALUE_TYPE_UNSIGNED_LONG, put64(1 << 40), 1 << 40},
		{"ulonglong", gonvml.VALUE_TYPE_UNSIGNED_LONG_LONG, put64(7), 7},
		{"slonglong", gonvml.VALUE_TYPE_SIGNED_LONG_LONG, put64(uint64(math.MaxUint64)), -1},
		{"sint", gonvml.VALUE_TYPE_SIGNED_INT, put32(math.MaxUint32), -1},
		{"ushort", gonvml.VALUE_TYPE_UNSIGNED_SHORT, put32(65535), 65535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, fieldValue(gonvml.FieldValue{ValueType: uint32(tc.typ), Value: tc.raw}))
		})
	}
	require.True(t, math.IsNaN(fieldValue(gonvml.FieldValue{ValueType: 99})))
}

func TestProfileName(t *testing.T) {
	for _, tc := range []struct {
		slices uint32
		mb     uint64
		want   string
	}{
		{1, 4864, "1g.5gb"},   // A100 40GB
		{1, 9856, "1g.10gb"},  // H100 80GB
		{3, 40192, "3g.40gb"}, // H100 80GB
		{7, 81920, "7g.80gb"},
	} {
		require.Equal(t, tc.want, ProfileName(tc.slices, tc.mb))
	}
}

func TestCString(t *testing.T) {
	require.Equal(t, "00000000:17:00.0", cString([]int8{'0', '0', '0', '0', '0', '0', '0', '0', ':', '1', '7', ':', '0', '0', '.', '0', 0, 'x'}))
	require.Equal(t, "", cString(nil))
}
