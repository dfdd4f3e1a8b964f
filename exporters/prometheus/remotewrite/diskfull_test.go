package remotewrite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/prometheus/remotewrite/remotewritetest"
)

// mountTmpfs mounts a tmpfs of the given size (mount's syntax: "1m") on a new directory.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "sonde-test", dir).CombinedOutput()
	require.NoError(t, err, "mounting a small tmpfs needs root (make test runs as root): %s", out)
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	free, ok := statfsFree(dir)
	require.True(t, ok)
	return free
}

// wideSeries are n series with long label values, so that series records weigh.
func wideSeries(n int) []labels.Labels {
	pad := strings.Repeat("x", 100)
	out := make([]labels.Labels, n)
	for i := range out {
		out[i] = labels.FromStrings("__name__", "wide", "i", fmt.Sprint(i), "pad", pad)
	}
	return out
}

// TestFullDiskFreesAcknowledgedData: with the receiver down the WAL fills its file system;
// commits then fail, their samples counted as dropped, and nothing is deleted. Once the
// receiver has acknowledged the backlog, the space is freed at once (not at the next
// truncate_frequency, an hour here) and commits are written again. Every sample whose commit
// succeeded is delivered. Either the room is checked before writing (statfs) or, where the
// free space is unknown, the failed write itself starts the recovery.
func TestFullDiskFreesAcknowledgedData(t *testing.T) {
	for _, tc := range []struct {
		name   string
		statfs bool
	}{{"room checked", true}, {"write fails", false}} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.statfs {
				diskFree = func(string) (int64, bool) { return 0, false }
				t.Cleanup(func() { diskFree = statfsFree })
			}
			dir := mountTmpfs(t, "1m")
			r := remotewritetest.NewReceiver(t)
			r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
			args := testArgs(t, r.URL)
			args.WAL.TruncateFrequency = model.Duration(time.Hour)
			in := start(t, dir, args, nil)

			lsets := wideSeries(200)
			var ok []int64 // timestamps of the commits that succeeded
			ts := int64(0)
			commit := func() error {
				ts += 1000
				app := in.c.Appendable().Appender(context.Background())
				for _, ls := range lsets {
					_, err := app.Append(0, ls, ts, rand.Float64())
					require.NoError(t, err)
				}
				err := app.Commit()
				if err == nil {
					ok = append(ok, ts)
				}
				return err
			}
			var err error
			for i := 0; err == nil; i++ {
				require.Less(t, i, 10000, "the disk never filled")
				err = commit()
			}
			require.Positive(t, in.dropped(reasonWALWrite))
			// The receiver is down: the WAL keeps all it holds, new samples are dropped.
			time.Sleep(2500 * time.Millisecond) // relieve runs once a second
			require.Error(t, commit())
			require.Empty(t, in.done, "Run ended")
			fullFree, dropped := freeBytes(t, dir), in.dropped(reasonWALWrite)

			r.Recover()
			recovering := time.Now()
			require.Eventually(t, func() bool { return commit() == nil }, 30*time.Second, 50*time.Millisecond,
				"commits never resumed:\n%s", in.logs.String())
			recovered := time.Since(recovering)
			require.Contains(t, in.logs.String(), "WAL space freed")
			require.Contains(t, in.logs.String(), "WAL appends resumed")
			require.NoError(t, commit())

			// Every successful commit is delivered, with no sample twice.
			require.Eventually(t, func() bool {
				got := r.Series()
				for _, ls := range lsets {
					s := got[ls.String()]
					if len(s) < len(ok) {
						return false
					}
				}
				return true
			}, 30*time.Second, 10*time.Millisecond)
			got := r.Series()
			for _, ls := range lsets {
				var times []int64
				for _, smp := range got[ls.String()] {
					times = append(times, smp.T)
				}
				// With the free space unknown, a failed commit's last record may have been
				// buffered whole by wlog and written with the next segment: sent, although
				// counted as dropped.
				for _, want := range ok {
					require.True(t, slices.Contains(times, want), "series %s: sample at %d lost", ls, want)
				}
				if tc.statfs {
					require.Len(t, times, len(ok), "series %s", ls)
				}
			}
			require.Zero(t, r.Duplicates())
			require.Empty(t, r.Problems())
			t.Logf("full: %d bytes free, %.0f samples dropped; receiver back: commits written again after %s, %d bytes free then; %d of %d commits written",
				fullFree, dropped, recovered.Round(time.Millisecond), freeBytes(t, dir), len(ok), ts/1000)
		})
	}
}

// TestMarkerNotAheadOnFullDisk: acknowledgements that come while the disk is full leave a
// marker on disk at or behind them (marker.latest is overwritten in place, marker itself
// cannot be replaced), so that a crash then re-sends but never skips.
func TestMarkerNotAheadOnFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	r := remotewritetest.NewReceiver(t)
	in := start(t, dir, testArgs(t, r.URL), nil)
	in.appendRandom(t, 50, 10, 1000)
	waitSamples(t, r, 50*10)
	r.FailWith(remotewritetest.Response{Status: http.StatusServiceUnavailable})
	in.appendRandom(t, 50, 10, 11000)
	// Fill what is left.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	require.NoError(t, err)
	for err == nil {
		_, err = filler.Write(make([]byte, 4<<10))
	}
	require.NoError(t, filler.Close())
	require.Less(t, freeBytes(t, dir), int64(4<<10))

	r.Recover()
	waitSamples(t, r, 50*20)
	time.Sleep(1500 * time.Millisecond) // the marker saves after acknowledgements and each second
	crash := t.TempDir()
	copyDir(t, dir, crash)
	in.stop(t)

	// A restart from what the crash left skips nothing committed before the crash: the two
	// receivers together hold everything.
	r2 := remotewritetest.NewReceiver(t)
	in2 := start(t, crash, testArgs(t, r2.URL), nil)
	in2.appendRandom(t, 50, 1, 100000)
	require.Eventually(t, func() bool {
		got := r2.Series()
		for _, ls := range testSeries(50) {
			if s := got[ls.String()]; len(s) == 0 || s[len(s)-1].T != 100000 {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
	all := map[string]map[int64]bool{}
	for _, rc := range []*remotewritetest.Receiver{r, r2} {
		for k, ss := range rc.Series() {
			if all[k] == nil {
				all[k] = map[int64]bool{}
			}
			for _, s := range ss {
				all[k][s.T] = true
			}
		}
	}
	for _, ls := range testSeries(50) {
		require.Len(t, all[ls.String()], 21, "series %s", ls)
	}
	require.Empty(t, r2.Problems())
	t.Logf("re-sent after the crash: %d of the %d samples acknowledged on the full disk", r2.SampleCount()-50, 50*10)
}

// TestBoundaryDeletesWithoutCheckpoint: a segment started with relog makes every series
// write its series record again, so the segments before it go without a checkpoint once
// acknowledged, and a restart still resolves every sample after it.
func TestBoundaryDeletesWithoutCheckpoint(t *testing.T) {
	dir := t.TempDir()
	w := openTestWAL(t, dir)
	a, b := labels.FromStrings("s", "a"), labels.FromStrings("s", "b")
	commitOne(t, w, a, 1000)
	commitOne(t, w, b, 1000)
	w.commitMu.Lock()
	require.NoError(t, w.cutLocked(true))
	boundary := w.curSeg
	w.commitMu.Unlock()
	commitOne(t, w, a, 2000)
	commitOne(t, w, a, 3000) // the series record is written once per boundary

	require.NoError(t, w.dropBeforeBoundary(boundary-1), "not acknowledged yet")
	first, _, err := wlog.Segments(dir)
	require.NoError(t, err)
	require.Zero(t, first)
	require.NoError(t, w.dropBeforeBoundary(boundary))
	first, _, err = wlog.Segments(dir)
	require.NoError(t, err)
	require.Equal(t, boundary, first)
	_, _, err = wlog.LastCheckpoint(dir)
	require.ErrorIs(t, err, record.ErrNotFound, "no checkpoint needed")
	w.closeAppends()
	require.NoError(t, w.close())

	sr, err := wlog.NewSegmentsReader(dir)
	require.NoError(t, err)
	rd := wlog.NewReader(sr)
	dec := record.NewDecoder(nil, nil)
	var types []record.Type
	for rd.Next() {
		types = append(types, dec.Type(rd.Record()))
	}
	require.NoError(t, rd.Err())
	require.NoError(t, sr.Close())
	require.Equal(t, []record.Type{record.Series, record.Samples, record.Samples}, types)

	w2 := openTestWAL(t, dir)
	defer func() { w2.closeAppends(); require.NoError(t, w2.close()) }()
	require.EqualValues(t, 1, w2.table.active.Load(), "only a is in the WAL still")
	s, created := w2.table.getOrCreate(a, 0)
	require.False(t, created)
	require.EqualValues(t, 3000, s.lastTs.Load())
}

func TestSegmentsFitTheDisk(t *testing.T) {
	require.Equal(t, 256<<10, fitSegmentSize(128<<20, 2<<20))
	require.Equal(t, 128<<10, fitSegmentSize(128<<20, 100<<10), "at least 4 pages")
	require.Equal(t, 64<<20, fitSegmentSize(64<<20, 100<<30), "never above an eighth of max_size")
	require.Zero(t, fitSegmentSize(128<<20, 3<<20+12345)%walPage)
}
