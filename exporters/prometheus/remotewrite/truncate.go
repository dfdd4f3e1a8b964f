package remotewrite

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/tsdb/fileutil"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
)

// cutIfOld starts a new segment if the current one holds data and is older than age, so
// that acknowledged data can be truncated and aged out even at a low write rate.
func (w *walStorage) cutIfOld(age time.Duration) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	if w.closed || !w.segDirty || time.Since(w.segStart) < age {
		return nil
	}
	seg, err := w.wl.NextSegmentSync()
	if err != nil {
		return fmt.Errorf("start WAL segment: %w", err)
	}
	w.curSeg, w.segStart, w.segDirty = seg, time.Now(), false
	w.wake()
	return nil
}

// truncate garbage-collects series idle for idleEpochs epochs whose records all lie before
// segment acked, then checkpoints the series still in memory and deletes the segments
// before acked (all of their samples were acknowledged or dropped). Unless force is set,
// segments are deleted only once they hold at least as many bytes as the last checkpoint,
// so that writing checkpoints (every series' labels) costs at most as much disk I/O as the
// samples themselves, however many series there are.
func (w *walStorage) truncate(acked int, idleEpochs uint32, force bool) error {
	w.commitMu.Lock()
	removed := w.table.gc(acked, w.epoch.Load(), idleEpochs)
	w.commitMu.Unlock()
	if removed > 0 {
		w.m.seriesRemoved.Add(float64(removed))
	}
	w.m.activeSeries.Set(float64(w.table.active.Load()))

	segs, err := w.segments()
	if err != nil {
		return err
	}
	var freeable int64
	for _, s := range segs {
		if s.index < acked {
			freeable += s.size
		}
	}
	if len(segs) == 0 || acked <= segs[0].index || (!force && freeable < w.checkpointSize()) {
		return nil
	}
	if err := w.writeCheckpoint(acked - 1); err != nil {
		w.m.truncateFails.Inc()
		return fmt.Errorf("write WAL checkpoint: %w", err)
	}
	if err := w.wl.Truncate(acked); err != nil {
		w.m.truncateFails.Inc()
		return fmt.Errorf("delete WAL segments: %w", err)
	}
	if err := wlog.DeleteCheckpoints(w.dir, acked-1); err != nil {
		w.m.truncateFails.Inc()
		return fmt.Errorf("delete old WAL checkpoints: %w", err)
	}
	w.m.truncations.Inc()
	w.logger.Debug("WAL truncated", "before_segment", acked, "freed_bytes", freeable, "series_removed", removed)
	return nil
}

// checkpointSize returns the size of the newest checkpoint, 0 if there is none.
func (w *walStorage) checkpointSize() int64 {
	dir, _, err := wlog.LastCheckpoint(w.dir)
	if err != nil {
		return 0
	}
	n, err := fileutil.DirSize(dir)
	if err != nil {
		return 0
	}
	return n
}

// writeCheckpoint writes checkpoint.<to> holding the series records of every series in
// memory that is in the WAL. It is written from memory rather than with wlog.Checkpoint,
// which re-reads the segments and fails for good on a corrupt one (and would need the
// removed series anyway): the table already holds exactly the series still needed.
func (w *walStorage) writeCheckpoint(to int) error {
	final := wlog.CheckpointDir(w.dir, to)
	tmp := final + wlog.CheckpointTempFileSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	cp, err := wlog.New(nil, nil, tmp, walCompression)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			cp.Close()
			os.RemoveAll(tmp)
		}
	}()
	var (
		enc    record.Encoder
		batch  []record.RefSeries
		buf    []byte
		logged = w.table.logged()
	)
	for i, s := range logged {
		batch = append(batch, record.RefSeries{Ref: s.ref, Labels: s.lset})
		if len(batch) == maxSeriesPerRecord || i == len(logged)-1 {
			buf = enc.Series(batch, buf[:0])
			if err := cp.Log(buf); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	ok = true
	if err := cp.Close(); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := syncDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return fileutil.Replace(tmp, final)
}

func syncDir(dir string) error {
	d, err := fileutil.OpenDir(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// segmentInfo describes one segment file on disk.
type segmentInfo struct {
	index   int
	size    int64
	modTime time.Time
}

// segments lists the segment files, oldest first.
func (w *walStorage) segments() ([]segmentInfo, error) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, err
	}
	var out []segmentInfo
	for _, e := range entries {
		k, err := strconv.Atoi(e.Name())
		if err != nil || e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, segmentInfo{index: k, size: fi.Size(), modTime: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out, nil
}

// size returns the bytes used by the WAL directory (segments and checkpoints).
func (w *walStorage) size() int64 {
	n, err := fileutil.DirSize(w.dir)
	if err != nil {
		return 0
	}
	return n
}

// planDrop returns, for each bound, the first segment to keep: segments before ageKeep hold
// only data older than maxAge, and dropping those before sizeKeep brings the segments under
// maxSize. Segments before them must go, sent or not. The segment being written is never
// dropped.
func (w *walStorage) planDrop(now time.Time, maxAge time.Duration, maxSize int64) (ageKeep, sizeKeep int, err error) {
	segs, err := w.segments()
	if err != nil {
		return 0, 0, err
	}
	cur := w.currentSegment()
	ageKeep, sizeKeep = math.MinInt, math.MinInt
	for _, s := range segs {
		if s.index < cur && now.Sub(s.modTime) > maxAge {
			ageKeep = s.index + 1
		}
	}
	// Only segments count: dropping unsent data cannot shrink the checkpoint (series
	// records of live series), so counting it would only lose data for nothing.
	var total int64
	for _, s := range segs {
		total += s.size
	}
	for _, s := range segs {
		if total <= maxSize || s.index >= cur {
			break
		}
		sizeKeep = s.index + 1
		total -= s.size
	}
	return ageKeep, sizeKeep, nil
}

// updateGauges refreshes the WAL size and segment count.
func (w *walStorage) updateGauges() {
	if segs, err := w.segments(); err == nil {
		w.m.walSegments.Set(float64(len(segs)))
	}
	w.m.walSize.Set(float64(w.size()))
}
