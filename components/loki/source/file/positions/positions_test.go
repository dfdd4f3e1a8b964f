package positions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var sample = []Entry{
	{Path: "/var/log/pods/ns_pod_uid/c/0.log", Device: 2049, Inode: 1234, Fingerprint: 0xdeadbeefcafe, FingerprintLength: 512, Offset: 98765, Seen: 1700000000},
	{Path: "/var/log/pods/ns_pod_uid/c/0.log.20240305-070809", Device: 2049, Inode: 99, Fingerprint: 0, FingerprintLength: 0, Offset: 0},
	{Path: "odd \"name\"\n", Device: 1<<64 - 1, Inode: 1<<64 - 1, Fingerprint: 1<<64 - 1, FingerprintLength: MaxFingerprintLength, Offset: 1<<63 - 1},
}

func TestRoundTrip(t *testing.T) {
	data := Encode(sample)
	require.True(t, strings.HasPrefix(string(data), "{\"version\":1}\n"))
	got, bad, err := Parse(data)
	require.NoError(t, err)
	require.Zero(t, bad)
	require.Equal(t, sample, got)
}

func TestParseTolerant(t *testing.T) {
	full := string(Encode(sample))
	tests := []struct {
		name    string
		data    string
		entries int
		bad     int
	}{
		{"empty", "", 0, 0},
		{"header only", "{\"version\":1}\n", 0, 0},
		{"no header", strings.SplitN(full, "\n", 2)[1], 3, 0},
		{"torn last line", full[:len(full)-10], 2, 1},
		{"torn in the middle", strings.Replace(full, "\"ino\":1234", "\"in", 1), 2, 1},
		{"garbage lines", "garbage\n" + full + "\x00\x00\x00\n", 3, 2},
		{"bad fingerprint", `{"dev":1,"ino":2,"fp":"xyz","fp_len":1,"offset":3}` + "\n", 0, 1},
		{"negative offset", `{"dev":1,"ino":2,"fp":"a","fp_len":1,"offset":-3}` + "\n", 0, 1},
		{"huge fingerprint length", `{"dev":1,"ino":2,"fp":"a","fp_len":99999999,"offset":3}` + "\n", 0, 1},
		{"wrong types", `{"dev":"1","ino":2,"fp":"a","fp_len":1,"offset":3}` + "\n", 0, 1},
		{"over-long line", full + strings.Repeat("x", 2<<20), 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, bad, err := Parse([]byte(tc.data))
			require.NoError(t, err)
			require.Len(t, got, tc.entries)
			require.Equal(t, tc.bad, bad)
		})
	}
}

func TestParseVersion(t *testing.T) {
	_, _, err := Parse([]byte("{\"version\":2}\n"))
	require.ErrorIs(t, err, ErrVersion)
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "positions.json")

	got, bad, err := Load(path)
	require.NoError(t, err, "a missing file is not an error")
	require.Empty(t, got)
	require.Zero(t, bad)

	require.NoError(t, Save(path, sample))
	require.NoError(t, Save(path, sample[:1])) // replaces, never appends
	got, bad, err = Load(path)
	require.NoError(t, err)
	require.Zero(t, bad)
	require.Equal(t, sample[:1], got)

	// Nothing but the file itself is left behind.
	names, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)

	// A crash in the middle of a Save leaves a temporary file; RemoveStale clears it.
	require.NoError(t, os.WriteFile(path+".tmp-123", []byte("{\"ver"), 0o644))
	RemoveStale(path)
	names, err = os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)
}

func TestSaveError(t *testing.T) {
	require.Error(t, Save(filepath.Join(t.TempDir(), "missing", "positions.json"), sample))
}

// FuzzPositions: any bytes parse without panicking, and whatever parses survives a round
// trip unchanged.
func FuzzPositions(f *testing.F) {
	f.Add(Encode(sample))
	f.Add(Encode(nil))
	f.Add([]byte("{\"version\":1}\n{\"dev\":1,\"ino\":2,\"fp\":\"ff\",\"fp_len\":3,\"offset\":4}\n{\"dev\""))
	f.Add([]byte("{\"version\":7}\n"))
	f.Add([]byte("\x00\xff{}\n[]\nnull\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _, err := Parse(data)
		if err != nil {
			require.ErrorIs(t, err, ErrVersion)
			return
		}
		again, bad, err := Parse(Encode(entries))
		require.NoError(t, err)
		require.Zero(t, bad)
		if len(entries) == 0 {
			require.Empty(t, again)
			return
		}
		require.Equal(t, entries, again)
	})
}
