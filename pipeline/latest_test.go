package pipeline_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline"
)

func TestLatest(t *testing.T) {
	l := pipeline.NewLatest("a")
	require.Equal(t, "a", l.Load())
	select {
	case <-l.Changed():
		t.Fatal("no wake-up before a Store")
	default:
	}
	l.Store("b")
	l.Store("c") // never blocks; coalesced
	<-l.Changed()
	require.Equal(t, "c", l.Load(), "the newest value")
	select {
	case <-l.Changed():
		t.Fatal("two Stores leave one wake-up")
	default:
	}
}
