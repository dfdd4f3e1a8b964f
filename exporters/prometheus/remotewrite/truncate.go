package remotewrite

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/tsdb/fileutil"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
)

// cutIfOld starts a new segment if the current one holds data and is older than age, so
// that acknowledged data can be truncated and aged out even at a low write rate. While the
// disk is full, relieve does the cutting.
func (w *walStorage) cutIfOld(age time.Duration) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	if w.closed || w.full.Load() || !w.segDirty || time.Since(w.segStart) < age {
		return nil
	}
	return w.cutLocked(false)
}

// cutLocked starts a new segment; commitMu is held. With relog, the new segment starts a
// boundary (relogSeg): every series gets its series record written again at its next
// commit, so that the segments before the boundary can go without a checkpoint.
func (w *walStorage) cutLocked(relog bool) error {
	seg, err := w.wl.NextSegmentSync()
	if err != nil {
		return fmt.Errorf("start WAL segment: %w", err)
	}
	w.curSeg, w.segStart, w.segDirty, w.needCut = seg, time.Now(), false, false
	w.writing.Store(int64(seg))
	w.tail, w.tailKnown = 0, true
	w.handoff.reset()
	if relog {
		w.relogSeg, w.relogEpoch = seg, w.epoch.Add(1)
	}
	w.wake()
	return nil
}

// Full disks. A commit checks that the file system has room for its records before writing
// them (roomFor); if not, or if the write fails anyway, its samples are dropped, counted,
// and the WAL is marked full. relieve, run once a second, then frees what is acknowledged
// at once rather than at the next truncate_frequency:
//   - the normal truncation needs a checkpoint, which needs room, and never deletes the
//     segment being written. So relieve starts a new segment (the boundary) and has every
//     series write its series record again from there; once the receiver has acknowledged
//     everything before the boundary, those segments and checkpoints are deleted, with no
//     new byte written (dropBeforeBoundary).
//   - starting a segment completes the current page (up to 32KiB): the reserve, a 64KiB file
//     kept in the WAL directory, is deleted to make room for that, and put back once there
//     is room again. Appends resume then.
//
// Nothing unacknowledged is deleted: with the receiver down the WAL keeps what it holds
// (within wal.max_age and wal.max_size) and new samples are dropped, counted.
const (
	reserveFile = "reserve"
	reserveSize = 64 << 10
)

// noGC, as truncate's idleEpochs, leaves the series table alone.
const noGC = math.MaxUint32

// lowWater is the free space below which relieve truncates acknowledged segments at once.
func (w *walStorage) lowWater() int64 { return 2*int64(w.segSize) + reserveSize }

// relieve frees disk space while the WAL's file system is short of it; acked is the
// acknowledged segment, and persist, called first, saves the marker durably (so that it is
// never behind what is deleted). It runs in the component's goroutine, like maintain.
func (w *walStorage) relieve(acked int, persist func()) {
	full := w.full.Load()
	free, known := w.diskFree(w.dir)
	if !full && (!known || free >= w.lowWater()) {
		w.makeReserve()
		return
	}
	persist()
	before := w.size()
	var err error
	if full {
		err = w.dropBeforeBoundary(acked) // a checkpoint would not fit
	} else {
		err = w.truncate(acked, noGC, false) // at once; series are collected by maintain
	}
	if err != nil {
		w.logger.Debug("truncate WAL", "err", err)
	}
	if full {
		free, known = w.diskFree(w.dir)
		w.commitMu.Lock()
		short := !known || free < w.lowWater()
		if !w.closed && (w.needCut || (short && w.relogSeg < 0 && w.segDirty)) {
			w.dropReserve()
			if err := w.cutLocked(w.relogSeg < 0); err != nil {
				w.logger.Debug("start WAL segment", "err", err)
			}
		}
		needCut := w.needCut
		w.commitMu.Unlock()
		if w.makeReserve() && !needCut {
			w.full.Store(false) // commits check the room themselves again
		}
	}
	if freed := before - w.size(); freed > 0 {
		w.logger.Info("WAL space freed", "freed_bytes", freed, "acked_segment", acked)
	}
	w.updateGauges()
}

// dropBeforeBoundary deletes the segments and checkpoints before relogSeg once acked has
// reached it: everything in them is acknowledged, and the segments from relogSeg on hold
// the series record of every series they refer to.
func (w *walStorage) dropBeforeBoundary(acked int) error {
	w.commitMu.Lock()
	from := w.relogSeg
	w.commitMu.Unlock()
	if from < 0 || acked < from {
		return nil
	}
	if err := w.wl.Truncate(from); err != nil {
		w.m.truncateFails.Inc()
		return fmt.Errorf("delete WAL segments: %w", err)
	}
	if err := wlog.DeleteCheckpoints(w.dir, from); err != nil {
		w.m.truncateFails.Inc()
		return fmt.Errorf("delete old WAL checkpoints: %w", err)
	}
	w.commitMu.Lock()
	if w.relogSeg == from {
		w.relogSeg = -1
	}
	w.commitMu.Unlock()
	w.m.truncations.Inc()
	return nil
}

// makeReserve puts the reserve file in place if it is missing and there is room for it, and
// reports whether it is there. Its bytes are random, so that a compressing file system
// allocates them.
func (w *walStorage) makeReserve() bool {
	if w.reserved.Load() {
		return true
	}
	path := filepath.Join(w.dir, reserveFile)
	if fi, err := os.Stat(path); err == nil && fi.Size() == reserveSize {
		w.reserved.Store(true)
		return true
	}
	b := make([]byte, reserveSize)
	_, _ = rand.NewChaCha8([32]byte{'s', 'o', 'n', 'd', 'e'}).Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = f.Write(b)
		err = errors.Join(err, f.Sync(), f.Close())
	}
	if err != nil {
		_ = os.Remove(path)
		return false
	}
	w.reserved.Store(true)
	return true
}

// dropReserve deletes the reserve file, making room for what wlog must write.
func (w *walStorage) dropReserve() {
	if err := os.Remove(filepath.Join(w.dir, reserveFile)); err == nil || errors.Is(err, fs.ErrNotExist) {
		w.reserved.Store(false)
	}
}

// truncate garbage-collects series idle for idleEpochs epochs whose records all lie before
// segment acked, then checkpoints the series still in memory and deletes the segments
// before acked (all of their samples were acknowledged or dropped). Unless force is set,
// segments are deleted only once they hold at least as many bytes as the last checkpoint,
// so that writing checkpoints (every series' labels) costs at most as much disk I/O as the
// samples themselves, however many series there are. Segments before a relog boundary
// that acked has reached go first, without a checkpoint. idleEpochs noGC skips the garbage
// collection.
func (w *walStorage) truncate(acked int, idleEpochs uint32, force bool) error {
	if err := w.dropBeforeBoundary(acked); err != nil {
		return err
	}
	removed := 0
	if idleEpochs != noGC {
		w.commitMu.Lock()
		removed = w.table.gc(acked, w.epoch.Load(), idleEpochs)
		w.commitMu.Unlock()
	}
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

// size returns the bytes used by the WAL directory (segments and checkpoints, not the
// reserve).
func (w *walStorage) size() int64 {
	n, err := fileutil.DirSize(w.dir)
	if err != nil {
		return 0
	}
	if fi, err := os.Stat(filepath.Join(w.dir, reserveFile)); err == nil {
		n -= fi.Size()
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
