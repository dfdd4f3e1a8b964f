package remotewrite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func testMarker(offset int64, shards ...int) marker {
	m := marker{Acked: walPos{Segment: 2, Offset: offset}}
	for _, s := range shards {
		m.Shards = append(m.Shards, samplePos{Segment: 2, Offset: int64(s), Index: 1})
	}
	return m
}

// TestMarkerStoreLoadsTheFurthest: the start takes whichever of marker and marker.latest is
// valid and further on; a torn or stale marker.latest (a power loss) falls back to marker.
func TestMarkerStoreLoadsTheFurthest(t *testing.T) {
	for _, tc := range []struct {
		name            string
		durable, latest *marker
		tornLatest      bool
		want            marker
	}{
		{name: "latest ahead (a kill)", durable: new(testMarker(100, 50, 60)), latest: new(testMarker(300, 250, 260)), want: testMarker(300, 250, 260)},
		{name: "one shard ahead", durable: new(testMarker(100, 50, 60)), latest: new(testMarker(100, 50, 90)), want: testMarker(100, 50, 90)},
		{name: "latest stale (power loss)", durable: new(testMarker(300, 250, 260)), latest: new(testMarker(100, 50, 60)), want: testMarker(300, 250, 260)},
		{name: "latest torn", durable: new(testMarker(100, 50, 60)), latest: new(testMarker(300, 250, 260)), tornLatest: true, want: testMarker(100, 50, 60)},
		{name: "only latest", latest: new(testMarker(300, 250, 260)), want: testMarker(300, 250, 260)},
		{name: "shard count changed, same position", durable: new(testMarker(100, 50, 60)), latest: new(testMarker(100, 50, 60, 70)), want: testMarker(100, 50, 60)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.durable != nil {
				require.NoError(t, writeMarker(filepath.Join(dir, markerFile), *tc.durable))
			}
			if tc.latest != nil {
				s := newMarkerStore(dir, func() {})
				require.NoError(t, s.saveLatest(*tc.latest))
				if tc.tornLatest {
					b := readFile(t, filepath.Join(dir, latestMarkerFile))
					require.NoError(t, writeFile(filepath.Join(dir, latestMarkerFile), b[:len(b)/2]))
				}
			}
			got, err := newMarkerStore(dir, func() {}).load()
			require.NoError(t, err)
			require.True(t, equalMarkers(tc.want, got), "got %+v, want %+v", got, tc.want)
		})
	}

	_, err := newMarkerStore(t.TempDir(), func() {}).load()
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestMarkerStoreOverwritesInPlace: a shorter marker written over a longer one reads back
// as itself (padding), also across a restart of the store; close saves the final marker
// durably and removes marker.latest.
func TestMarkerStoreOverwritesInPlace(t *testing.T) {
	dir := t.TempDir()
	fails := 0
	s := newMarkerStore(dir, func() { fails++ })
	require.NoError(t, s.saveLatest(testMarker(123456789, 123456, 654321, 111111)))
	require.NoError(t, s.saveLatest(testMarker(7, 1, 2, 3)))
	got, err := readMarker(filepath.Join(dir, latestMarkerFile))
	require.NoError(t, err)
	require.True(t, equalMarkers(testMarker(7, 1, 2, 3), got))

	// A new run overwrites what the last one left, longer or not.
	s2 := newMarkerStore(dir, func() { fails++ })
	_, err = s2.load()
	require.NoError(t, err)
	require.NoError(t, s2.saveLatest(testMarker(8)))
	got, err = readMarker(filepath.Join(dir, latestMarkerFile))
	require.NoError(t, err)
	require.True(t, equalMarkers(testMarker(8), got))

	require.NoError(t, s2.close(testMarker(9, 4, 5, 6)))
	require.NoFileExists(t, filepath.Join(dir, latestMarkerFile))
	got, err = readMarker(filepath.Join(dir, markerFile))
	require.NoError(t, err)
	require.True(t, equalMarkers(testMarker(9, 4, 5, 6), got))
	require.Zero(t, fails)
}

// TestMarkerStoreFailureCountedAndLoggedOnce: a marker that cannot be written is counted
// every time and reported once until a write succeeds again.
func TestMarkerStoreFailureCountedAndLoggedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	fails := 0
	s := newMarkerStore(dir, func() { fails++ })
	require.Error(t, s.saveLatest(testMarker(1)))
	require.NoError(t, s.saveLatest(testMarker(2)), "the same error is reported once")
	require.Error(t, s.saveDurable(testMarker(3)), "another error is reported")
	require.Equal(t, 4, fails, "every failed write counts (saveDurable writes both files)")
}

// BenchmarkMarkerSave compares what persisting the marker costs: after every acknowledged
// batch in place without fsync (latest), against the atomic, fsynced replacement (durable).
func BenchmarkMarkerSave(b *testing.B) {
	for _, kind := range []string{"latest", "durable"} {
		b.Run(kind, func(b *testing.B) {
			s := newMarkerStore(b.TempDir(), func() { b.Fatal("write failed") })
			m := testMarker(0, 1, 2, 3, 4)
			for b.Loop() {
				m.Acked.Offset++
				var err error
				if kind == "latest" {
					err = s.saveLatest(m)
				} else {
					err = writeMarker(filepath.Join(s.dir, markerFile), m)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
