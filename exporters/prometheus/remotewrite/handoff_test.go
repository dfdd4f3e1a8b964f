package remotewrite

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
	"github.com/sondehq/sonde/internal/units"
)

func refSamples(first, n int) []record.RefSample {
	out := make([]record.RefSample, n)
	for i := range out {
		out[i] = record.RefSample{Ref: chunks.HeadSeriesRef(first + i), T: int64(first + i), V: float64(i)}
	}
	return out
}

// TestHandoffChain: the handoff answers only for record boundaries of its one chain, copies
// the records after one, starts a new chain for a record that does not continue it, and
// drops its oldest records beyond its bound.
func TestHandoffChain(t *testing.T) {
	h := newHandoff()
	_, _, ok := h.after(0, 0, nil, nil)
	require.False(t, ok, "nothing known yet")

	h.addSeries(3, 0, 100)
	h.addSamples(3, 100, 300, refSamples(1, 2))
	recs, entries, ok := h.after(3, 0, nil, nil)
	require.True(t, ok)
	require.Equal(t, []memRec{{end: 100, n: 0}, {end: 300, n: 2}}, recs)
	require.Equal(t, []walEntry{{Ref: 1, T: 1, V: 0}, {Ref: 2, T: 2, V: 1}}, entries)
	recs, _, ok = h.after(3, 100, nil, nil)
	require.True(t, ok)
	require.Equal(t, []memRec{{end: 300, n: 2}}, recs)
	recs, _, ok = h.after(3, 300, nil, nil)
	require.True(t, ok, "caught up")
	require.Empty(t, recs)
	_, _, ok = h.after(3, 50, nil, nil)
	require.False(t, ok, "not a boundary")
	_, _, ok = h.after(4, 300, nil, nil)
	require.False(t, ok, "another segment")

	h.addSamples(3, 400, 500, refSamples(3, 1)) // something was written between 300 and 400
	_, _, ok = h.after(3, 100, nil, nil)
	require.False(t, ok, "the old chain is gone")
	recs, _, ok = h.after(3, 400, nil, nil)
	require.True(t, ok)
	require.Equal(t, []memRec{{end: 500, n: 1}}, recs)

	// Beyond the bound, the oldest records go.
	end := int64(500)
	per := handoffMaxEntries / 4
	for i := range 6 {
		h.addSamples(3, end, end+1000, refSamples(10+i*per, per))
		end += 1000
	}
	require.LessOrEqual(t, h.held, handoffMaxEntries)
	_, _, ok = h.after(3, 400, nil, nil)
	require.False(t, ok, "dropped")
	recs, entries, ok = h.after(3, end-4000, nil, nil)
	require.True(t, ok)
	require.Len(t, recs, 4)
	require.Len(t, entries, 4*per)
	require.Equal(t, chunks.HeadSeriesRef(10+2*per), entries[0].Ref)

	h.reset()
	_, _, ok = h.after(3, end, nil, nil)
	require.False(t, ok)
}

// TestReaderTakesCaughtUpRecordsFromMemory: a reader that keeps up takes the records from
// the handoff, not from the segment, and every sample is delivered once.
func TestReaderTakesCaughtUpRecordsFromMemory(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	in := start(t, t.TempDir(), testArgs(t, r.URL), nil)
	const series, steps = 100, 40
	lsets := testSeries(series)
	rd := in.c.endpoints()[0].snd.reader
	for k := range steps {
		app := in.c.Appendable().Appender(t.Context())
		for i, ls := range lsets {
			_, err := app.Append(0, ls, int64(k+1)*1000, float64(i*steps+k))
			require.NoError(t, err)
		}
		require.NoError(t, app.Commit())
		waitSamples(t, r, (k+1)*series) // the reader is caught up before the next commit
	}
	requireExactly(t, r, series, steps)
	// A reader that looks between a record's write and its handoff reads it from the file.
	require.GreaterOrEqual(t, rd.fromMemory.Load(), int64(steps-3), "records from the handoff")
	require.Less(t, rd.fromFile.Load(), int64(4), "records read back from the segment")
}

// TestReaderBehindHandoffReadsFile: a reader held up (the receiver failing, the queues
// full) while far more than the handoff holds is written goes back to the file from where
// it was (mid-page, with records spanning pages) and delivers every sample exactly once:
// with small segments (the rest of its segment, then the next ones) and with one large one.
func TestReaderBehindHandoffReadsFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxSize units.ByteSize
	}{{"128KiB segments", minWALSize}, {"2MiB segment", 16 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			r := remotewritetest.NewReceiver(t)
			args := testArgs(t, r.URL)
			args.WAL.MaxSize = tc.maxSize
			args.Endpoint.Queue.Capacity = 1000
			args.Endpoint.Queue.MaxSamplesPerSend = 500
			args.Endpoint.Queue.Shards, args.Endpoint.Queue.MaxShards = 1, 1
			in := start(t, t.TempDir(), args, nil)
			rd := in.c.endpoints()[0].snd.reader
			const series = 2000 // a record of random values: about 20KiB, so records span pages

			in.appendRandom(t, series, 3, 1000)
			waitSamples(t, r, 3*series)
			require.Positive(t, rd.fromMemory.Load())
			fromFile := rd.fromFile.Load()

			r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
			in.appendRandom(t, series, 30, 10000) // 60 000 samples: the handoff holds 8192
			require.Eventually(t, func() bool { return testutil.ToFloat64(in.em().samplesFailed) > 0 }, 10*time.Second, time.Millisecond)
			r.Recover()
			waitSamples(t, r, 33*series)
			requireExactly(t, r, series, 33)
			require.Greater(t, rd.fromFile.Load(), fromFile+10, "the reader went back to the file")
			require.Zero(t, testutil.ToFloat64(in.c.m.walCorruptions), "no record was read from its middle")
		})
	}
}
