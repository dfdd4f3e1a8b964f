package file

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/components/loki/source/file/positions"
)

func TestPositionCommitsInOrder(t *testing.T) {
	p := &position{}
	gen := p.reset(0, 0, 0)
	r1 := p.newRecord(gen)
	p.extend(r1, 100)
	r2 := p.newRecord(gen)
	p.extend(r2, 250)
	r3 := p.newRecord(gen)
	p.extend(r3, 300)

	require.False(t, p.ack(r2), "acknowledged out of order: nothing is contiguous yet")
	require.Zero(t, p.committed)
	require.True(t, p.ack(r1))
	require.Equal(t, int64(250), p.committed, "r1 and r2 are now a contiguous prefix")
	require.True(t, p.ack(r3))
	require.Equal(t, int64(300), p.committed)
	require.Empty(t, p.pending)
}

func TestPositionStaleGeneration(t *testing.T) {
	p := &position{}
	gen := p.reset(0, 1, 1)
	old := p.newRecord(gen)
	p.extend(old, 500)

	gen2 := p.reset(0, 2, 2) // truncated
	require.Nil(t, p.newRecord(gen), "chunks read before the truncation record nothing")
	require.False(t, p.ack(old), "an old batch's acknowledgement commits nothing")
	require.Zero(t, p.committed)
	r := p.newRecord(gen2)
	p.extend(r, 40)
	require.True(t, p.ack(r))
	require.Equal(t, int64(40), p.committed)
}

func TestTableSnapshot(t *testing.T) {
	old := time.Now().Add(-2 * forgetAfter).Unix()
	tb := newTable([]positions.Entry{
		{Path: "/a", Device: 1, Inode: 1, Offset: 10, Seen: time.Now().Unix()},
		{Path: "/b", Device: 1, Inode: 2, Offset: 20, Seen: old}, // not tailed for two days
	})
	// The inode of /c now holds other content: a fresh position replaces the old one.
	p, known := tb.claim(fileID{1, 1}, "/a", func(int, uint64) bool { return true })
	require.True(t, known)
	require.Equal(t, int64(10), p.committed)
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
