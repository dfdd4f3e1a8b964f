package logbatch

import (
	"cmp"
	"testing"

	"github.com/stretchr/testify/require"
)

var less = cmp.Less[int64]

func TestStreamCommitsInOrder(t *testing.T) {
	s := &Stream[int64]{}
	gen := s.Reset(0)
	r1 := s.newRecord(gen)
	s.extend(r1, 100, less)
	r2 := s.newRecord(gen)
	s.extend(r2, 250, less)
	r3 := s.newRecord(gen)
	s.extend(r3, 300, less)

	require.False(t, s.ack(r2, less), "acknowledged out of order: nothing is contiguous yet")
	require.Zero(t, s.State().Committed)
	require.True(t, s.ack(r1, less))
	require.Equal(t, int64(250), s.State().Committed, "r1 and r2 are now a contiguous prefix")
	require.True(t, s.ack(r3, less))
	require.Equal(t, State[int64]{Gen: gen, Committed: 300, Handed: 300}, s.State())
}

func TestStreamStaleGeneration(t *testing.T) {
	s := &Stream[int64]{}
	gen := s.Reset(0)
	old := s.newRecord(gen)
	s.extend(old, 500, less)

	gen2 := s.Reset(0) // truncated
	require.Nil(t, s.newRecord(gen), "chunks read before the reset record nothing")
	require.False(t, s.ack(old, less), "an old batch's acknowledgement commits nothing")
	require.Zero(t, s.State().Committed)
	r := s.newRecord(gen2)
	s.extend(r, 40, less)
	require.True(t, s.ack(r, less))
	require.Equal(t, int64(40), s.State().Committed)
}

// TestStreamNeverMovesBack: a reader that resumes a stream at its committed progress while
// batches carrying more of it are still due (a file let go and matched again) does not move
// the progress back.
func TestStreamNeverMovesBack(t *testing.T) {
	s := &Stream[int64]{}
	s.Restore(10)
	r1 := s.newRecord(0)
	s.extend(r1, 100, less)
	r2 := s.newRecord(0)
	s.extend(r2, 50, less) // read again from 10
	require.Equal(t, int64(100), s.State().Handed)
	require.True(t, s.ack(r1, less))
	require.False(t, s.ack(r2, less))
	require.Equal(t, int64(100), s.State().Committed)
}
