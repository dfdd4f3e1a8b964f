package file

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The order in which offsets commit is internal/logbatch's (stream_test.go there).

func TestTableSnapshot(t *testing.T) {
	old := time.Now().Add(-2 * forgetAfter).Unix()
	tb := newTable([]savedPosition{
		{Path: "/a", Device: 1, Inode: 1, Offset: 10, Seen: time.Now().Unix()},
		{Path: "/b", Device: 1, Inode: 2, Offset: 20, Seen: old}, // not tailed for two days
	})
	// The inode of /c now holds other content: a fresh position replaces the old one.
	p, known := tb.claim(fileID{1, 1}, "/a", func(int, uint64) bool { return true })
	require.True(t, known)
	require.Equal(t, int64(10), p.State().Committed)
	d, known := tb.claim(fileID{1, 3}, "/d", func(int, uint64) bool { return true })
	require.False(t, known)
	tb.release(d, true)

	out, lag := tb.snapshot(time.Now())
	require.Zero(t, lag)
	require.Len(t, out, 1, "the forgotten and the deleted positions are gone")
	require.Equal(t, "/a", out[0].Path)
	require.True(t, tb.known(fileID{1, 1}))
	require.False(t, tb.known(fileID{1, 2}))
}
