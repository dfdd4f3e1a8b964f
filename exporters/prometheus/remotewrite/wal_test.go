package remotewrite

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
)

func TestTruncationCheckpointsSentSegments(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	dir := t.TempDir()
	args := testArgs(t, r.URL)
	args.WAL.TruncateFrequency = model.Duration(20 * time.Millisecond)
	in := start(t, dir, args, nil)
	walDir := filepath.Join(dir, "wal")

	in.appendSamples(t, 30, 3, 1000)
	waitSamples(t, r, 90)
	// Sent segments are cut, checkpointed and deleted.
	require.Eventually(t, func() bool {
		first, _, err := wlog.Segments(walDir)
		_, cp, cpErr := wlog.LastCheckpoint(walDir)
		return err == nil && cpErr == nil && first > 0 && cp == first-1
	}, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return testutil.ToFloat64(in.c.m.truncations) > 0 }, 10*time.Second, time.Millisecond)
	in.stop(t)

	// The checkpoint keeps the series: after a restart they are known under their refs.
	in2 := start(t, dir, args, nil)
	require.EqualValues(t, 30, in2.c.wal.Load().table.active.Load())
	in2.appendSamples(t, 30, 3, 4000)
	waitSamples(t, r, 180)
	requireExactly(t, r, 30, 6)
}

func TestMaxSizeDropsOldestUnsentData(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	dir := t.TempDir()
	args := testArgs(t, r.URL)
	args.WAL.MaxSize = minWALSize
	args.WAL.TruncateFrequency = model.Duration(20 * time.Millisecond)
	in := start(t, dir, args, nil)

	const series, steps = 100, 1500 // ~1.7MB of incompressible samples
	in.appendRandom(t, series, steps, 1000)
	require.Eventually(t, func() bool { return in.dropped(reasonMaxSize) > 0 }, 20*time.Second, 5*time.Millisecond)
	w := in.c.wal.Load()
	require.Eventually(t, func() bool {
		return w.size() <= int64(args.WAL.MaxSize)+int64(segmentSize(args.WAL.MaxSize))
	}, 10*time.Second, 5*time.Millisecond, "WAL size %d", w.size())
	require.Contains(t, in.logs.String(), "WAL bound exceeded, dropping unsent data")

	// What was not dropped is still sent. Drops stop the sender, so a batch in flight may
	// arrive and be counted as dropped too, or arrive twice: compare distinct samples.
	r.Recover()
	lastT := int64(1000 + (steps-1)*1000)
	require.Eventually(t, func() bool {
		got := r.Series()
		if len(got) != series {
			return false
		}
		for _, s := range got {
			if s[len(s)-1].T != lastT {
				return false
			}
		}
		return true
	}, 60*time.Second, 5*time.Millisecond)
	// Every sample is either delivered or counted as dropped (a shard that ran ahead may
	// have delivered part of a dropped segment, so a series can have a gap).
	distinct, _ := r.Distinct()
	require.GreaterOrEqual(t, distinct+int(in.dropped(reasonMaxSize)), series*steps)
	require.Empty(t, r.Problems())
}

func TestMaxAgeDropsOldSegments(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	args := testArgs(t, r.URL)
	args.WAL.TruncateFrequency = model.Duration(20 * time.Millisecond)
	in := start(t, t.TempDir(), args, nil)
	w := in.c.wal.Load()

	in.appendSamples(t, 10, 5, 1000)
	written := w.currentSegment()
	require.Eventually(t, func() bool { return w.currentSegment() > written }, 10*time.Second, time.Millisecond,
		"the segment holding the data is not cut")
	old := time.Now().Add(-time.Duration(args.WAL.MaxAge) - time.Hour)
	segs, err := w.segments()
	require.NoError(t, err)
	for _, s := range segs {
		if s.index <= written {
			require.NoError(t, os.Chtimes(wlog.SegmentName(w.dir, s.index), old, old))
		}
	}
	require.Eventually(t, func() bool { return in.dropped(reasonMaxAge) == 50 }, 10*time.Second, time.Millisecond)

	r.Recover()
	in.appendSamples(t, 10, 1, 10000)
	waitSamples(t, r, 10)
	requireExactly(t, r, 10, 1)
}

func TestCorruptSegmentIsSkipped(t *testing.T) {
	r := remotewritetest.NewReceiver(t)
	r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	dir := t.TempDir()
	args := testArgs(t, r.URL)
	in := start(t, dir, args, nil)
	for k := range 20 {
		in.appendRandom(t, 50, 1, int64(k+1)*1000)
	}
	seg := in.c.wal.Load().currentSegment()
	in.stop(t)

	path := wlog.SegmentName(filepath.Join(dir, "wal"), seg)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	end := len(b) // the data ends before the zero padding of the last page
	for end > 0 && b[end-1] == 0 {
		end--
	}
	for i := end / 2; i < end/2+64; i++ {
		b[i] ^= 0xff
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))

	r.Recover()
	in2 := start(t, dir, args, nil)
	require.Positive(t, testutil.ToFloat64(in2.c.m.walCorruptions))
	require.Contains(t, in2.logs.String(), "corrupt WAL data skipped")
	// What is readable is sent, and new data flows.
	in2.appendSamples(t, 5, 1, 100000)
	require.Eventually(t, func() bool {
		return len(r.Series()[testSeries(5)[4].String()]) > 0
	}, 10*time.Second, time.Millisecond)
	require.Greater(t, r.SampleCount(), 5)
	require.Less(t, r.SampleCount(), 20*50+5)
	require.Empty(t, r.Problems())
}

func openTestWAL(t *testing.T, dir string) *walStorage {
	t.Helper()
	m, err := newMetrics(nil)
	require.NoError(t, err)
	w, err := openWAL(dir, segmentSize(minWALSize), slog.New(slog.DiscardHandler), m)
	require.NoError(t, err)
	return w
}

func commitOne(t *testing.T, w *walStorage, ls labels.Labels, ts int64) {
	t.Helper()
	app := newAppender(w)
	_, err := app.Append(0, ls, ts, 1)
	require.NoError(t, err)
	require.NoError(t, app.Commit())
}

func TestSeriesGarbageCollection(t *testing.T) {
	dir := t.TempDir()
	w := openTestWAL(t, dir)
	a, b, c := labels.FromStrings("s", "a"), labels.FromStrings("s", "b"), labels.FromStrings("s", "c")
	commitOne(t, w, a, 1000)
	commitOne(t, w, b, 1000)
	oldA, _ := w.table.getOrCreate(a, 0)

	// An appender holds series a while it is collected.
	held := newAppender(w)
	_, err := held.Append(0, a, 2000, 2)
	require.NoError(t, err)

	w.epoch.Add(2)
	commitOne(t, w, c, 1000) // c is active in the current epoch
	w.commitMu.Lock()
	removed := w.table.gc(w.curSeg+1, w.epoch.Load(), 2)
	w.commitMu.Unlock()
	require.Equal(t, 2, removed) // a and b: idle for 2 epochs and all sent
	require.EqualValues(t, 1, w.table.active.Load())
	require.Nil(t, w.table.getByRef(oldA.ref))

	// The held sample still lands, under a new series record.
	require.NoError(t, held.Commit())
	newA, created := w.table.getOrCreate(a, 0)
	require.False(t, created)
	require.NotEqual(t, oldA.ref, newA.ref)
	require.EqualValues(t, 2000, newA.lastTs.Load())
	w.closeAppends()
	require.NoError(t, w.close())

	// Replay: the newest ref owns the labels, timestamps are restored, old refs resolve.
	w2 := openTestWAL(t, dir)
	defer func() { w2.closeAppends(); require.NoError(t, w2.close()) }()
	got, created := w2.table.getOrCreate(a, 0)
	require.False(t, created)
	require.Equal(t, newA.ref, got.ref)
	require.EqualValues(t, 2000, got.lastTs.Load())
	require.NotNil(t, w2.table.getByRef(oldA.ref))
	require.Greater(t, w2.table.lastRef.Load(), uint64(newA.ref)-1)

	// Out-of-order checks survive the restart.
	app := newAppender(w2)
	_, err = app.Append(0, a, 1500, 1)
	require.Error(t, err)
	require.NoError(t, app.Rollback())
}

func TestWALIsPrometheusFormat(t *testing.T) {
	dir := t.TempDir()
	w := openTestWAL(t, dir)
	ls := labels.FromStrings("__name__", "up", "job", "x")
	commitOne(t, w, ls, 1000)
	commitOne(t, w, ls, 2000)
	w.closeAppends()
	require.NoError(t, w.close())

	// Read it back with Prometheus' own reader and decoder.
	sr, err := wlog.NewSegmentsReader(dir)
	require.NoError(t, err)
	defer sr.Close()
	rd := wlog.NewReader(sr)
	dec := record.NewDecoder(nil, nil)
	var types []record.Type
	var samples []record.RefSample
	for rd.Next() {
		rec := rd.Record()
		types = append(types, dec.Type(rec))
		if dec.Type(rec) == record.Samples {
			s, err := dec.Samples(rec, nil)
			require.NoError(t, err)
			samples = append(samples, s...)
		}
		if dec.Type(rec) == record.Series {
			s, err := dec.Series(rec, nil)
			require.NoError(t, err)
			require.Equal(t, ls, s[0].Labels)
		}
	}
	require.NoError(t, rd.Err())
	require.Equal(t, []record.Type{record.Series, record.Samples, record.Samples}, types)
	require.Len(t, samples, 2)
	require.EqualValues(t, 2000, samples[1].T)
}

func TestMarkerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "marker")
	m := marker{Acked: walPos{Segment: 3, Offset: 4096}, Shards: []samplePos{{Segment: 3, Offset: 5000, Index: 7}, {}}}
	require.NoError(t, writeMarker(path, m))
	got, err := readMarker(path)
	require.NoError(t, err)
	m.Version = markerVersion
	got.CRC = 0
	require.Equal(t, m, got)
	_, err = readMarker(filepath.Join(t.TempDir(), "none"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestTrackerAdvancesOnlyPastCompleteRecords(t *testing.T) {
	var tr tracker
	e1, e2, e3 := &recEntry{pos: walPos{0, 10}}, &recEntry{pos: walPos{0, 20}}, &recEntry{pos: walPos{0, 30}}
	e1.pending.Store(2)
	e2.pending.Store(1)
	e3.pending.Store(1)
	tr.push(e1)
	tr.push(e2)
	tr.pushDone(walPos{0, 25})
	tr.push(e3)
	tr.done(e2, 1)
	require.Equal(t, walPos{}, tr.position())
	tr.done(e1, 1)
	require.Equal(t, walPos{}, tr.position())
	tr.done(e1, 1)
	require.Equal(t, walPos{0, 25}, tr.position())
	tr.done(e3, 1)
	require.Equal(t, walPos{0, 30}, tr.position())
	tr.pushDone(walPos{1, 0})
	require.Equal(t, walPos{1, 0}, tr.position())
}

func TestAppendBeforeCommitSeesNoData(t *testing.T) {
	w := openTestWAL(t, t.TempDir())
	defer func() { w.closeAppends(); require.NoError(t, w.close()) }()
	app := newAppender(w)
	_, err := app.Append(0, labels.FromStrings("s", "x"), 1, 1)
	require.NoError(t, err)
	require.NoError(t, app.Rollback())
	require.Empty(t, w.table.logged(), "a rolled back series is not in the WAL")
}
