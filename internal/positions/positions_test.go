package positions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// entry is a source's entry for the tests.
type entry struct {
	Name   string `json:"name"`
	Offset int64  `json:"offset"`
	Seen   int64  `json:"seen,omitempty"`
}

func (e entry) Valid() bool { return e.Name != "" && e.Offset >= 0 }

var sample = []entry{
	{Name: "/var/log/pods/ns_pod_uid/c/0.log", Offset: 98765, Seen: 1700000000},
	{Name: "/var/log/pods/ns_pod_uid/c/0.log.20240305-070809", Offset: 0},
	{Name: "odd \"name\" \"version\"\n", Offset: 1<<63 - 1},
}

func TestRoundTrip(t *testing.T) {
	data := Encode(sample)
	require.True(t, strings.HasPrefix(string(data), "{\"version\":1}\n"))
	got, bad, err := Parse[entry](data)
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
		{"torn in the middle", strings.Replace(full, "\"offset\":98765", "\"off", 1), 2, 1},
		{"garbage lines", "garbage\n" + full + "\x00\x00\x00\n", 3, 2},
		{"not valid", `{"name":"a","offset":-3}` + "\n", 0, 1},
		{"empty object", "{}\nnull\n", 0, 2},
		{"wrong types", `{"name":1,"offset":3}` + "\n", 0, 1},
		{"over-long line", full + strings.Repeat("x", 2<<20), 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, bad, err := Parse[entry]([]byte(tc.data))
			require.NoError(t, err)
			require.Len(t, got, tc.entries)
			require.Equal(t, tc.bad, bad)
		})
	}
}

func TestParseVersion(t *testing.T) {
	_, _, err := Parse[entry]([]byte("{\"version\":2}\n"))
	require.ErrorIs(t, err, ErrVersion)
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "positions.json")

	got, bad, err := Load[entry](path)
	require.NoError(t, err, "a missing file is not an error")
	require.Empty(t, got)
	require.Zero(t, bad)

	require.NoError(t, Save(path, sample))
	require.NoError(t, Save(path, sample[:1])) // replaces, never appends
	got, bad, err = Load[entry](path)
	require.NoError(t, err)
	require.Zero(t, bad)
	require.Equal(t, sample[:1], got)

	// Nothing but the file itself is left behind.
	names, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)

	// A crash in the middle of a Save leaves a temporary file (named "<file>.tmp-<n>", or
	// "<file>.tmp<n>" by loki.source.kubernetes before it used this package); RemoveStale
	// clears them.
	require.NoError(t, os.WriteFile(path+".tmp-123", []byte("{\"ver"), 0o644))
	require.NoError(t, os.WriteFile(path+".tmp456", []byte("{\"ver"), 0o644))
	RemoveStale(path)
	names, err = os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)
}

func TestSaveCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "positions.json")
	require.NoError(t, Save(path, sample))
	got, _, err := Load[entry](path)
	require.NoError(t, err)
	require.Equal(t, sample, got)
}

func TestSaveError(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o644))
	require.Error(t, Save(filepath.Join(notDir, "positions.json"), sample))
}

// FuzzPositions: any bytes parse without panicking, and whatever parses survives a round
// trip unchanged.
func FuzzPositions(f *testing.F) {
	f.Add(Encode(sample))
	f.Add(Encode[entry](nil))
	f.Add([]byte("{\"version\":1}\n{\"name\":\"a\",\"offset\":4}\n{\"name\""))
	f.Add([]byte("{\"version\":7}\n"))
	f.Add([]byte("\x00\xff{}\n[]\nnull\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _, err := Parse[entry](data)
		if err != nil {
			require.ErrorIs(t, err, ErrVersion)
			return
		}
		again, bad, err := Parse[entry](Encode(entries))
		require.NoError(t, err)
		require.Zero(t, bad)
		if len(entries) == 0 {
			require.Empty(t, again)
			return
		}
		require.Equal(t, entries, again)
	})
}
