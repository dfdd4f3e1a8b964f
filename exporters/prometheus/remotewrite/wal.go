package remotewrite

// The WAL is the Prometheus agent's format (tsdb/wlog segments and checkpoints holding
// tsdb/record series and samples records), but not tsdb/agent.DB plus
// storage/remote.QueueManager: the agent DB truncates only up to what
// *remote.Storage.LowestSentTimestamp reports, and the remote-write WAL watcher starts at
// "now" on every start, so everything still unsent when Prometheus restarts is skipped. sonde
// promises the opposite: after a restart or a crash, whatever is in the WAL and was not
// acknowledged is sent. So the appender, the reader (reader.go) and truncation here share one
// series table and an acknowledged marker (marker.go).

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"github.com/prometheus/prometheus/util/compression"

	"github.com/sondehq/sonde/internal/units"
)

const (
	maxSamplesPerRecord = 5000 // bounds records, so one never outgrows a segment
	maxSeriesPerRecord  = 1000
	// maxHistogramsPerRecord bounds records of native histograms, which are larger.
	maxHistogramsPerRecord = 500
	walCompression         = compression.Snappy
)

var (
	errClosed = errors.New("prometheus.remote_write is not running")
	// errNoRoom: the WAL's file system has no room for a commit (see relieve).
	errNoRoom = errors.New("no room left on the WAL's file system: samples dropped until acknowledged data is deleted")
)

// diskFree reports the bytes left on a directory's file system (false: unknown); tests
// replace it.
var diskFree = statfsFree

// wlog's page and record header sizes, for estimating what a commit writes.
const (
	walPage         = 32 << 10
	walRecordHeader = 7
	minSegmentSize  = 4 * walPage
)

// segmentSize is an eighth of max_size (so the size bound is enforced in steps of at most
// 12.5%), between 128KiB and wlog's default of 128MiB, in whole 32KiB pages.
func segmentSize(maxSize units.ByteSize) int {
	s := int64(maxSize) / 8 &^ (walPage - 1)
	return int(min(max(s, minSegmentSize), wlog.DefaultSegmentSize))
}

// fitSegmentSize caps segSize at an eighth of room, the bytes the WAL can take on its file
// system (what is free plus what it holds already), in whole pages and at least 128KiB.
// Truncation deletes whole segments and never the one being written: with segments larger
// than the disk everything would stay in that one until the disk is full.
func fitSegmentSize(segSize int, room int64) int {
	return int(min(int64(segSize), max(room/8&^(walPage-1), minSegmentSize)))
}

// walStorage is the write side of the WAL and the owner of the series table.
type walStorage struct {
	dir      string
	segSize  int
	logger   *slog.Logger
	m        *metrics
	wl       *wlog.WL
	table    *seriesTable
	meta     *metaTable    // metadata by metric name, in memory only
	notify   chan struct{} // signalled (coalesced) after every write, for the reader
	diskFree func(string) (int64, bool)

	closing     atomic.Bool   // set first on shutdown: appenders fail fast
	corruptSeen sync.Map      // segments whose damage a reader reported (corruptRead)
	epoch       atomic.Uint32 // truncation epoch, for series garbage collection
	// full is set when a commit found no room on disk or its write failed: relieve then
	// frees acknowledged data at once (see truncate.go). Cleared once the reserve is back.
	full     atomic.Bool
	reserved atomic.Bool // the reserve file is in place

	// commitMu serialises commits, segment changes and series GC, so that a series record
	// always precedes the first samples record that refers to it and GC never removes a
	// series a commit is writing.
	commitMu sync.Mutex
	closed   bool
	curSeg   int
	// writing mirrors curSeg for readers, which take no lock: a segment after the one they
	// read exists once it is larger (a stat per wake-up before).
	writing atomic.Int64
	// tail is the size of the segment being written (curSeg) after the last record, when
	// known: where the next record starts, for the handoff.
	tail      int64
	tailKnown bool
	handoff   *handoff
	name      string // of segment nameSeg (curSegName)
	nameSeg   int
	segStart  time.Time
	segDirty  bool // the current segment has records
	// needCut: a write failed, so wlog holds bytes of a record that did not make it and the
	// segment may end in a torn record: nothing more is written to it, a new one is started.
	needCut bool
	// relogSeg: segments from relogSeg on hold the series record of every series their samples
	// refer to, so once relogSeg is acknowledged the ones before it go without a checkpoint
	// (-1: no such boundary pending). Series last committed before relogEpoch get their series
	// record written again by their next commit.
	relogSeg   int
	relogEpoch uint32
	freeEst    int64     // bytes free on disk at freeAt, less what was written since
	freeAt     time.Time // zero: freeEst is unknown
	noRoomAt   time.Time // first commit refused since the last one written; zero: none
	noRoomLost int       // samples dropped since noRoomAt
	// appended counts the samples committed (the scaler's data-in rate).
	appended   atomic.Int64
	enc        record.Encoder
	seriesBuf  []record.RefSeries
	loggingBuf []loggingSeries
	samplesBuf []record.RefSample
	histBuf    []record.RefHistogramSample
	fhistBuf   []record.RefFloatHistogramSample
	exBuf      []record.RefExemplar
	recBuf     []byte
	recs       []walRecord
}

// loggingSeries is a series whose series record the commit in progress writes, with the
// lastSegment it had before.
type loggingSeries struct {
	s    *memSeries
	prev int32
}

// openWAL opens (creating if needed) the WAL in dir and replays it: the last checkpoint
// and every segment, to rebuild the series table, each series' newest timestamp (so the
// out-of-order check survives restarts) and the highest ref. Corrupt segments are logged,
// counted and skipped from the damage on; the write side always starts a new segment.
func openWAL(dir string, segSize int, logger *slog.Logger, m *metrics) (*walStorage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create WAL directory: %w", err)
	}
	if err := wlog.DeleteTempCheckpoints(logger, dir); err != nil {
		return nil, err
	}
	if err := removeSegmentGaps(dir, logger); err != nil {
		return nil, err
	}
	w := &walStorage{
		dir:      dir,
		logger:   logger,
		m:        m,
		table:    newSeriesTable(),
		meta:     newMetaTable(m.metadataNames),
		notify:   make(chan struct{}, 1),
		diskFree: diskFree,
		relogSeg: -1,
		handoff:  newHandoff(),
	}
	if free, ok := w.diskFree(dir); ok {
		if s := fitSegmentSize(segSize, free+w.size()); s < segSize {
			logger.Info("WAL segments sized to the room on disk", "segment_size", units.ByteSize(s),
				"for_max_size", units.ByteSize(segSize), "free", units.ByteSize(free))
			segSize = s
		}
	}
	w.segSize = segSize
	start := time.Now()
	if err := w.replay(); err != nil {
		return nil, err
	}
	w.makeReserve()
	wl, err := wlog.NewSize(logger, nil, dir, segSize, walCompression)
	if err != nil {
		return nil, fmt.Errorf("open WAL: %w", err)
	}
	w.wl = wl
	_, last, err := wlog.Segments(dir)
	if err != nil {
		wl.Close()
		return nil, err
	}
	w.curSeg, w.segStart = last, time.Now()
	w.writing.Store(int64(last))
	w.tail, w.tailKnown = 0, true // wlog starts a new segment
	m.activeSeries.Set(float64(w.table.active.Load()))
	logger.Info("WAL replayed", "dir", dir, "series", w.table.active.Load(), "write_segment", last,
		"segment_size", units.ByteSize(segSize), "duration", time.Since(start).Round(time.Millisecond))
	return w, nil
}

// removeSegmentGaps deletes segments before a gap in the numbering (left by a failed
// deletion or by hand), which wlog refuses to open.
func removeSegmentGaps(dir string, logger *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var idx []int
	for _, e := range entries {
		if k, err := strconv.Atoi(e.Name()); err == nil && !e.IsDir() {
			idx = append(idx, k)
		}
	}
	sort.Ints(idx)
	for i := len(idx) - 1; i > 0; i-- {
		if idx[i-1]+1 != idx[i] {
			logger.Warn("WAL segments are not contiguous, deleting the ones before the gap",
				"first", idx[0], "gap_before", idx[i])
			for _, k := range idx[:i] {
				if err := os.Remove(wlog.SegmentName(dir, k)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return nil
}

func (w *walStorage) replay() error {
	first := 0
	cpDir, cpIdx, err := wlog.LastCheckpoint(w.dir)
	switch {
	case err == nil:
		first = cpIdx + 1
		if err := w.replayDir(cpDir, cpIdx); err != nil {
			return err
		}
	case !errors.Is(err, record.ErrNotFound):
		return fmt.Errorf("find WAL checkpoint: %w", err)
	}
	lo, hi, err := wlog.Segments(w.dir)
	if err != nil {
		return fmt.Errorf("list WAL segments: %w", err)
	}
	for seg := max(lo, first); lo >= 0 && seg <= hi; seg++ {
		if err := w.replaySegment(seg); err != nil {
			return err
		}
	}
	return nil
}

// replayDir replays a checkpoint directory; its series count as written in segment seg.
func (w *walStorage) replayDir(dir string, seg int) error {
	sr, err := wlog.NewSegmentsReader(dir)
	if err != nil {
		return fmt.Errorf("open WAL checkpoint: %w", err)
	}
	defer sr.Close()
	return w.replayRecords(wlog.NewReader(sr), seg, dir)
}

func (w *walStorage) replaySegment(seg int) error {
	s, err := wlog.OpenReadSegment(wlog.SegmentName(w.dir, seg))
	if err != nil {
		return fmt.Errorf("open WAL segment: %w", err)
	}
	rd := wlog.NewSegmentBufReader(s)
	defer rd.Close()
	return w.replayRecords(wlog.NewReader(rd), seg, s.Dir())
}

func (w *walStorage) replayRecords(r *wlog.Reader, seg int, where string) error {
	dec := record.NewDecoder(nil, w.logger)
	var (
		series  []record.RefSeries
		samples []record.RefSample
		entries []walEntry
		err     error
	)
	for r.Next() {
		rec := r.Record()
		if dec.Type(rec) == record.Series {
			if series, err = dec.Series(rec, series[:0]); err != nil {
				w.corrupt(where, seg, err)
				continue
			}
			for _, s := range series {
				w.table.replay(s.Ref, s.Labels, seg, 0)
			}
			continue
		}
		if entries, err = decodeEntries(&dec, rec, &samples, entries[:0]); err != nil {
			w.corrupt(where, seg, err)
			continue
		}
		for _, e := range entries {
			s := w.table.getByRef(e.Ref)
			if s == nil {
				continue
			}
			if (e.x == nil || e.x.ex == nil) && e.T > s.lastTs.Load() { // exemplars do not order samples
				s.lastTs.Store(e.T)
			}
			if int32(seg) > s.lastSegment.Load() {
				s.lastSegment.Store(int32(seg))
			}
		}
	}
	if err := r.Err(); err != nil {
		w.corrupt(where, seg, err)
	}
	return nil
}

func (w *walStorage) corrupt(where string, seg int, err error) {
	w.m.walCorruptions.Inc()
	w.logger.Warn("corrupt WAL data skipped", "dir", where, "segment", seg, "err", err)
}

// corruptRead is corrupt for damage an endpoint's reader finds in segment seg: reported
// once, however many endpoints (or restarted senders) read it.
func (w *walStorage) corruptRead(seg int, err error) {
	if _, seen := w.corruptSeen.LoadOrStore(seg, struct{}{}); !seen {
		w.corrupt(w.dir, seg, err)
	}
}

// commit writes the samples, native histograms and exemplars of one appender (and the
// series records of series new to the WAL, or new since the last relog, see relieve) and
// wakes the reader: first the series records, then samples, histograms and exemplars, one
// record at a time. Samples and histograms that are not newer than their series' newest
// committed one are dropped and counted. When the disk has no room for them, or the write
// fails, what was not written is dropped and counted, and an error returned.
func (w *walStorage) commit(c *pendingCommit) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	n := len(c.samples) + len(c.histograms)
	if w.closed {
		w.m.walDropped(reasonClosed).Add(float64(n))
		return errClosed
	}
	epoch := w.epoch.Load()
	series, logging := w.seriesBuf[:0], w.loggingBuf[:0]
	samples, hists, fhists, exs := w.samplesBuf[:0], w.histBuf[:0], w.fhistBuf[:0], w.exBuf[:0]
	maxT := int64(minTimestamp)
	var ooo, dup int
	withST := false // a sample has a start timestamp: the samples records are SamplesV2
	// live returns the series to write for s (taking the live one if s was collected since
	// the appender looked it up) and logs its series record with this commit if needed.
	live := func(s *memSeries) *memSeries {
		if s.lastSegment.Load() == segRemoved {
			var created bool
			if s, created = w.table.getOrCreate(s.lset, epoch); created {
				w.m.seriesCreated.Inc()
			}
		}
		if seg := s.lastSegment.Load(); seg == segNotLogged || (seg >= 0 && s.seenEpoch.Load() < w.relogEpoch) {
			s.lastSegment.Store(segLogging)
			series = append(series, record.RefSeries{Ref: s.ref, Labels: s.lset})
			logging = append(logging, loggingSeries{s: s, prev: seg})
		}
		return s
	}
	// admit checks t against the series' newest timestamp (another commit may have written
	// newer samples since Append checked) and takes it as the newest.
	admit := func(s *memSeries, t int64) bool {
		switch last := s.lastTs.Load(); {
		case t < last:
			ooo++
			return false
		case t == last:
			dup++
			return false
		}
		s.lastTs.Store(t)
		maxT = max(maxT, t)
		return true
	}
	for i := range c.samples {
		p := &c.samples[i]
		if p.s = live(p.s); !admit(p.s, p.t) {
			p.s = nil
			continue
		}
		samples = append(samples, record.RefSample{Ref: p.s.ref, ST: p.st, T: p.t, V: p.v})
		withST = withST || p.st != 0
	}
	for i := range c.histograms {
		p := &c.histograms[i]
		if p.s = live(p.s); !admit(p.s, p.t) {
			p.s = nil
			continue
		}
		if p.h != nil {
			hists = append(hists, record.RefHistogramSample{Ref: p.s.ref, T: p.t, H: p.h})
		} else {
			fhists = append(fhists, record.RefFloatHistogramSample{Ref: p.s.ref, T: p.t, FH: p.fh})
		}
	}
	for i := range c.exemplars {
		p := &c.exemplars[i]
		p.s = live(p.s)
		exs = append(exs, record.RefExemplar{Ref: p.s.ref, T: p.e.Ts, V: p.e.Value, Labels: p.e.Labels})
	}
	if ooo > 0 {
		w.m.walDropped(reasonOutOfOrder).Add(float64(ooo))
	}
	if dup > 0 {
		w.m.walDropped(reasonDuplicate).Add(float64(dup))
	}
	defer func() {
		clear(logging) // no series pointers kept
		clear(hists)
		clear(fhists)
		clear(exs)
		w.seriesBuf, w.loggingBuf, w.samplesBuf = series[:0], logging[:0], samples[:0]
		w.histBuf, w.fhistBuf, w.exBuf = hists[:0], fhists[:0], exs[:0]
	}()
	values := len(samples) + len(hists) + len(fhists)
	if values+len(exs) == 0 {
		return nil
	}

	// The records in write order, each with the kind and number of entries it holds.
	buf, recs := w.recBuf[:0], w.recs[:0]
	add := func(kind recKind, entries int, encode func([]byte) []byte) {
		start := len(buf)
		buf = encode(buf)
		recs = append(recs, walRecord{b: buf[start:], kind: kind, n: entries})
	}
	addSamples := func(part []record.RefSample, encode func([]byte) []byte) {
		add(recSamples, len(part), encode)
		recs[len(recs)-1].samples = part
	}
	for i := 0; i < len(series); i += maxSeriesPerRecord {
		part := series[i:min(i+maxSeriesPerRecord, len(series))]
		add(recSeries, len(part), func(b []byte) []byte { return w.enc.Series(part, b) })
	}
	for i := 0; i < len(samples); i += maxSamplesPerRecord {
		part := samples[i:min(i+maxSamplesPerRecord, len(samples))]
		addSamples(part, func(b []byte) []byte {
			w.enc.EnableSTStorage = withST
			defer func() { w.enc.EnableSTStorage = false }()
			return w.enc.Samples(part, b)
		})
	}
	for i := 0; i < len(hists); i += maxHistogramsPerRecord {
		part := hists[i:min(i+maxHistogramsPerRecord, len(hists))]
		exp, custom := splitCustomBuckets(part, func(h record.RefHistogramSample) bool { return h.H.UsesCustomBuckets() })
		if len(exp) > 0 {
			add(recHistograms, len(exp), func(b []byte) []byte { b, _ = w.enc.HistogramSamples(exp, b); return b })
		}
		if len(custom) > 0 {
			add(recHistograms, len(custom), func(b []byte) []byte { return w.enc.CustomBucketsHistogramSamples(custom, b) })
		}
	}
	for i := 0; i < len(fhists); i += maxHistogramsPerRecord {
		part := fhists[i:min(i+maxHistogramsPerRecord, len(fhists))]
		exp, custom := splitCustomBuckets(part, func(h record.RefFloatHistogramSample) bool { return h.FH.UsesCustomBuckets() })
		if len(exp) > 0 {
			add(recHistograms, len(exp), func(b []byte) []byte { b, _ = w.enc.FloatHistogramSamples(exp, b); return b })
		}
		if len(custom) > 0 {
			add(recHistograms, len(custom), func(b []byte) []byte { return w.enc.CustomBucketsFloatHistogramSamples(custom, b) })
		}
	}
	for i := 0; i < len(exs); i += maxSamplesPerRecord {
		part := exs[i:min(i+maxSamplesPerRecord, len(exs))]
		add(recExemplars, len(part), func(b []byte) []byte { return w.enc.Exemplars(part, b) })
	}
	var need int64 // bytes the records take at most in the WAL (wlog compresses only if smaller)
	for _, r := range recs {
		need += int64(len(r.b) + walRecordHeader*(len(r.b)/walPage+2))
	}
	defer func() {
		clear(recs)            // no samples kept
		if cap(buf) <= 4<<20 { // do not pin huge buffers after a huge commit
			w.recBuf, w.recs = buf[:0], recs[:0]
		}
	}()
	// The reserve must be in place (relieve deletes it to start a segment on a full disk):
	// commits do not take the room it made.
	if w.needCut || !w.reserved.Load() || !w.roomFor(need) {
		for _, l := range logging {
			l.s.lastSegment.Store(l.prev)
		}
		w.noRoom(values, errNoRoom)
		return fmt.Errorf("write WAL: %w", errNoRoom)
	}
	// One record at a time, so that when a write fails what was written before is known:
	// series records come first, the others are only written after all of them.
	var done [recKinds]int // entries written, by kind
	var werr error
	for _, r := range recs {
		start, known := w.tail, w.tailKnown
		if werr = w.wl.Log(r.b); werr != nil {
			w.tailKnown = false
			w.handoff.reset()
			w.followSegment()
			break
		}
		done[r.kind] += r.n
		w.handOff(r, start, known)
	}
	seg := int32(w.curSeg)
	for i, l := range logging {
		if i < done[recSeries] {
			l.s.lastSegment.Store(seg)
		} else {
			l.s.lastSegment.Store(l.prev)
		}
	}
	// The entries still in the commit, in order: mark the series of those written.
	mark := func(s *memSeries, k *int, written int) {
		if s != nil {
			if *k < written {
				s.lastSegment.Store(seg)
				s.seenEpoch.Store(epoch)
			}
			*k++
		}
	}
	var ks, kh, ke int
	for i := range c.samples {
		mark(c.samples[i].s, &ks, done[recSamples])
	}
	for i := range c.histograms { // written in the order int, float: close enough for marking
		mark(c.histograms[i].s, &kh, done[recHistograms])
	}
	for i := range c.exemplars {
		mark(c.exemplars[i].s, &ke, done[recExemplars])
	}
	written := done[recSamples] + done[recHistograms]
	if written+done[recExemplars] > 0 {
		w.segDirty = true
		w.wake()
	}
	if written > 0 {
		w.m.samplesAppended.Add(float64(written))
		w.appended.Add(int64(written))
		if werr == nil {
			observeMax(&w.m.highestAppendedMs, w.m.highestAppended, maxT)
		}
	}
	if done[recExemplars] > 0 {
		w.m.exemplarsAppended.Add(float64(done[recExemplars]))
	}
	if werr != nil {
		// wlog still holds what it could not write, and writes it with the next records:
		// those go to a new segment (relieve starts it). A record that was buffered whole may
		// still be sent then, although its samples were counted as dropped.
		w.needCut = true
		w.noRoom(values-written, werr)
		return fmt.Errorf("write WAL: %w", werr)
	}
	if !w.noRoomAt.IsZero() {
		w.logger.Info("WAL appends resumed", "after", time.Since(w.noRoomAt).Round(time.Millisecond),
			"samples_dropped", w.noRoomLost)
		w.noRoomAt, w.noRoomLost = time.Time{}, 0
	}
	return nil
}

// recKind is what a WAL record written by a commit holds.
type recKind int

const (
	recSeries recKind = iota
	recSamples
	recHistograms
	recExemplars
	recKinds
)

// walRecord is one encoded record of a commit.
type walRecord struct {
	b       []byte
	kind    recKind
	n       int                // entries in it
	samples []record.RefSample // a samples record's samples
}

// splitCustomBuckets splits histograms into exponential ones and ones with custom buckets
// (NHCB), which the WAL keeps in records of their own.
func splitCustomBuckets[T any](hs []T, custom func(T) bool) (exp, cb []T) {
	for i, h := range hs {
		if custom(h) {
			if cb == nil { // rare: copy only then
				exp = append([]T(nil), hs[:i]...)
			}
			cb = append(cb, h)
		} else if cb != nil {
			exp = append(exp, h)
		}
	}
	if cb == nil {
		return hs, nil
	}
	return exp, cb
}

// roomFor reports whether the WAL's file system has room for n more bytes. It asks the file
// system (statfs) whenever its estimate is within a MiB of n or a second old; where that is
// not possible it reports true and the write tells.
func (w *walStorage) roomFor(n int64) bool {
	const recheck = 1 << 20
	if !w.freeAt.IsZero() && w.freeEst >= n+recheck && time.Since(w.freeAt) < time.Second {
		w.freeEst -= n
		return true
	}
	free, ok := w.diskFree(w.dir)
	if !ok {
		w.freeAt = time.Time{}
		return true
	}
	// A file system hands out whole blocks: keep one spare.
	w.freeEst, w.freeAt = free-n, time.Now()
	return free >= n+4<<10
}

// noRoom counts n samples dropped for lack of room (or a failed write), logs the first of
// a series of such drops and has relieve free space at once. commitMu is held.
func (w *walStorage) noRoom(n int, err error) {
	w.m.walDropped(reasonWALWrite).Add(float64(n))
	w.full.Store(true)
	w.freeAt = time.Time{}
	if w.noRoomAt.IsZero() {
		w.noRoomAt = time.Now()
		w.logger.Warn("WAL cannot be written: samples are dropped (counted) until acknowledged data is deleted",
			"dir", w.dir, "err", err)
	}
	w.noRoomLost += n
}

// followSegment notices segments wlog started by itself (the current one was full), and
// reports whether it did. The records just written are in the newest one, so the result is
// an upper bound.
func (w *walStorage) followSegment() bool {
	moved := false
	for {
		if _, err := os.Stat(wlog.SegmentName(w.dir, w.curSeg+1)); err != nil {
			return moved
		}
		w.curSeg++
		w.segStart = time.Now()
		w.writing.Store(int64(w.curSeg))
		moved = true
	}
}

// handOff follows the segment after record r was written, at start of the segment being
// written when known, and hands r to the readers (handoff). commitMu is held.
//
// Where the record ended is the segment's size (wlog writes every record out at once). wlog
// starts a new segment when a record does not fit: the old one is then padded to a whole
// page, so a size that is not a multiple of a page tells without a second stat that the
// segment is the same.
func (w *walStorage) handOff(r walRecord, start int64, known bool) {
	size, err := fileSize(w.curSegName())
	if err != nil || size%walPage == 0 {
		if w.followSegment() {
			start, known = 0, true // the record opened the new segment
			size, err = fileSize(w.curSegName())
		}
	}
	if err != nil {
		w.tailKnown = false
		w.handoff.reset()
		return
	}
	w.tail, w.tailKnown = size, true
	switch {
	case !known:
		w.handoff.reset()
	case r.kind == recSamples:
		w.handoff.addSamples(w.curSeg, start, size, r.samples)
	case r.kind == recSeries:
		w.handoff.addSeries(w.curSeg, start, size)
	default: // histograms and exemplars are read from the file
		w.handoff.reset()
	}
}

// curSegName is the file name of segment curSeg (wlog formats it with fmt on every call).
func (w *walStorage) curSegName() string {
	if w.nameSeg != w.curSeg || w.name == "" {
		w.name, w.nameSeg = wlog.SegmentName(w.dir, w.curSeg), w.curSeg
	}
	return w.name
}

func fileSize(name string) (int64, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (w *walStorage) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// currentSegment returns the segment being written.
func (w *walStorage) currentSegment() int {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	return w.curSeg
}

// closeAppends makes every later commit fail; a commit in progress finishes first.
func (w *walStorage) closeAppends() {
	w.closing.Store(true)
	w.commitMu.Lock()
	w.closed = true
	w.commitMu.Unlock()
}

// close flushes and closes the WAL; closeAppends must have been called. Closing completes
// the last page (up to 32KiB): the reserve makes room for that on a full disk, and is put
// back at the next start.
func (w *walStorage) close() error {
	w.dropReserve()
	return w.wl.Close()
}
