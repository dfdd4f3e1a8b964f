package file

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/components/loki/source/file/decode"
	"github.com/sondehq/sonde/pipeline"
)

// tracker is one open file being tailed, identified by device and inode: it follows the
// file through renames, and a new file at the same path gets a tracker of its own.
type tracker struct {
	id     fileID
	pos    *position
	f      *os.File
	labels atomic.Pointer[streamLabels] // replaced by reconcile, read by readers

	// gz reads a compressed file through gzip (compressed.go); nil for the others.
	gz *gzSource

	// Guarded by manager.mu.
	path          string // where the file was last matched (a link's target)
	dir           string
	round         uint64 // the last reconcile that wanted it
	unwanted      bool   // no glob matches it any more: drain, then release
	unwantedSince time.Time
	state         qstate
	again         bool     // woken while being read
	held          bool     // waiting for its pod's metadata: not read until checkHeld lets it go
	waiting       bool     // waiting for an older file of its stream to be read (see manager.chain)
	successor     *tracker // the newer file of its stream waiting for this one's first read
	labelKey      labelKey // what labels were built from

	// Owned by the reader that has the tracker (state reading), or by the reconciler
	// before the tracker is first queued.
	dec        *decode.Decoder
	decCfg     decode.Config
	gen        uint64 // the position's generation this tracker reads for
	offset     int64  // next byte to read; always at a line boundary
	safe       int64  // the last safe offset handed to the batcher
	size       int64  // the file size last seen
	skipping   bool   // dropping the rest of a line longer than the read buffer
	tail       int    // bytes after the last newline at the last read: an unfinished line
	fp         uint64
	fpLen      int
	lastGrowth time.Time
	flushTimer *time.Timer
	warnedRead bool
	checked    bool // the content was checked at least once since open

	debug trackerDebug // published by the reader for DebugInfo
}

// close releases the descriptor and the flush timer.
func (t *tracker) close() {
	if t.flushTimer != nil {
		t.flushTimer.Stop()
	}
	_ = t.f.Close()
}

// readBudget is how much a reader reads from one file before it lets other files have a
// turn.
const readBudget = 4 << 20

// minReadBuffer is the smallest read buffer; it grows with max_line_size so that a line
// within the bound (plus its CRI or JSON wrapping) always fits.
const minReadBuffer = 256 << 10

// reader reads the trackers the manager hands it; Component runs a few.
type reader struct {
	c       *Component
	buf     []byte
	fpBuf   []byte
	decoded []decode.Entry
}

func newReader(c *Component) *reader {
	return &reader{c: c, fpBuf: make([]byte, fingerprintSize)}
}

func (r *reader) run(ctx context.Context) {
	for {
		t := r.c.manager.next(ctx)
		if t == nil {
			return
		}
		more := r.process(ctx, t)
		r.c.manager.done(t, more)
	}
}

// process reads what t has that is new, and releases t when it is drained and no longer
// wanted. It reports whether t has more to read right away.
func (r *reader) process(ctx context.Context, t *tracker) (more bool) {
	if t.gz != nil {
		return r.processCompressed(ctx, t)
	}
	s := r.c.settings()
	now := time.Now()
	if cfg := s.decodeConfig(); cfg != t.decCfg {
		// The format or the bound changed: what is buffered ends here.
		r.flushAll(ctx, t, "config_change")
		t.dec, t.decCfg = decode.New(cfg), cfg
	}
	fi, err := t.f.Stat()
	if err != nil {
		r.readError(t, err)
		return false
	}
	size := fi.Size()
	_, nlink, _ := identify(fi)
	t.debug.deleted.Store(nlink == 0)
	if size != t.size {
		t.lastGrowth = now
	}
	// Woken with nothing new (the poll, a write event already read): skip the content check
	// and the read. A truncation regrowing to exactly the same size is the one change this
	// misses until the file grows again.
	unchanged := size == t.size && t.offset+int64(t.tail) == size && t.checked
	if !unchanged {
		if !r.checkContent(ctx, t, size) {
			return false
		}
		t.checked = true
	}
	if want := min(size, fingerprintSize); int64(t.fpLen) < want {
		// Lengthen the fingerprint while the file is young.
		if fp, err := fingerprint(t.f, int(want), r.fpBuf); err == nil {
			t.fp, t.fpLen = fp, int(want)
			t.pos.setFingerprint(fp, t.fpLen)
		}
	}

	r.buffer(s)
	budget := readBudget
	for budget > 0 && !unchanged {
		n, err := t.f.ReadAt(r.buf, t.offset)
		if n == 0 {
			if err != nil && !isEOF(err) {
				r.readError(t, err)
			}
			t.tail = 0
			break
		}
		consumed := r.decodeLines(t, r.buf[:n], now)
		t.tail = n - consumed
		r.advance(t, consumed, now)
		budget -= consumed
		if !r.emit(ctx, t, r.decoded) {
			return false
		}
		if n < len(r.buf) || consumed == 0 {
			break // the end of what is written
		}
	}
	r.setSize(t, max(size, t.offset+int64(t.tail)))
	if budget <= 0 {
		return true
	}
	r.flushDue(ctx, t, s, now)
	if r.c.manager.releasable(t, now, s.pollInterval) {
		r.release(ctx, t, nlink == 0)
	}
	return false
}

// buffer returns the read buffer, grown to hold a line of max_line_size.
func (r *reader) buffer(s *settings) []byte {
	if r.buf == nil || len(r.buf) < s.maxLineSize+64<<10 {
		r.buf = make([]byte, max(minReadBuffer, s.maxLineSize+64<<10))
	}
	return r.buf
}

// decodeLines decodes the complete lines of data (read at t.offset) into r.decoded and
// returns how many bytes they span. A line longer than the whole buffer is decoded cut and
// the rest of it skipped.
func (r *reader) decodeLines(t *tracker, data []byte, now time.Time) int {
	out := r.decoded[:0]
	consumed := 0
	for {
		i := bytes.IndexByte(data[consumed:], '\n')
		if i < 0 {
			break
		}
		if t.skipping {
			t.skipping = false
			r.c.metrics.droppedBytes.WithLabelValues("truncated").Add(float64(i))
		} else {
			out = t.dec.Line(out, data[consumed:consumed+i], t.offset+int64(consumed), false, now)
		}
		consumed += i + 1
	}
	if consumed == 0 && len(data) == len(r.buf) {
		if t.skipping {
			r.c.metrics.droppedBytes.WithLabelValues("truncated").Add(float64(len(data)))
		} else {
			out = t.dec.Line(out, data, t.offset, true, now)
			t.skipping = true
		}
		consumed = len(data)
	}
	r.decoded = out
	return consumed
}

// advance moves t's offset over the consumed bytes of complete lines just decoded.
func (r *reader) advance(t *tracker, consumed int, now time.Time) {
	t.offset += int64(consumed)
	t.debug.offset.Store(t.offset) // unread_bytes while the reader may block in emit
	r.c.metrics.readBytes.Add(float64(consumed))
	if consumed > 0 {
		t.debug.lastRead.Store(now.UnixNano())
	}
}

// emit hands the decoded entries to the batcher with the safe offset; it returns false when
// ctx ended. Nothing is sent when nothing changed.
func (r *reader) emit(ctx context.Context, t *tracker, decoded []decode.Entry) bool {
	r.c.metrics.addStats(&t.dec.Stats)
	safe := t.dec.Safe(t.offset)
	if len(decoded) == 0 && safe == t.safe {
		return true
	}
	c := r.c.batcher.Chunk()
	c.Stream, c.Gen, c.At = &t.pos.Stream, t.gen, safe
	c.Entries, c.Bytes = t.toEntries(c.Entries, decoded)
	t.safe = safe
	clear(decoded)
	r.decoded = decoded[:0]
	return r.c.batcher.Send(ctx, c)
}

// toEntries converts decoded lines into pipeline entries with the file's labels.
func (t *tracker) toEntries(out []pipeline.LogEntry, decoded []decode.Entry) ([]pipeline.LogEntry, int) {
	ls := t.labels.Load()
	n := 0
	for _, e := range decoded {
		out = append(out, pipeline.LogEntry{
			// One shared, immutable map per stream (see pipeline.LogEntry.Labels).
			Labels:             ls.byStream[e.Stream],
			Timestamp:          e.Time,
			Line:               e.Line,
			StructuredMetadata: ls.metadata,
		})
		n += len(e.Line)
	}
	return out, n
}

// checkContent detects a file truncated or rewritten under the tracker (copytruncate, or
// truncate-then-regrow past the offset): then what is buffered is flushed and reading
// starts again at 0 of the new content. It returns false when ctx ended or the file cannot
// be read.
func (r *reader) checkContent(ctx context.Context, t *tracker, size int64) bool {
	truncated := size < t.offset
	if !truncated && t.fpLen > 0 {
		fp, err := fingerprint(t.f, t.fpLen, r.fpBuf)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			truncated = true // shorter than its fingerprint: cut, then written again
		case err != nil:
			r.readError(t, err)
			return false
		default:
			truncated = fp != t.fp
		}
	}
	if !truncated {
		return true
	}
	if !r.flushAll(ctx, t, "truncated") {
		return false
	}
	r.c.metrics.truncations.Inc()
	r.c.opts.Logger.Info("file truncated, reading it again from the start", "path", t.path, "offset", t.offset, "size", size)
	fpLen := int(min(size, fingerprintSize))
	fp, err := fingerprint(t.f, fpLen, r.fpBuf)
	if err != nil {
		fp, fpLen = 0, 0
	}
	t.gen = t.pos.reset(0, fp, fpLen)
	t.offset, t.safe, t.skipping, t.tail, t.fp, t.fpLen = 0, 0, false, 0, fp, fpLen
	return true
}

// flushDue sends the partial lines that waited partial_flush_timeout for their end, and arms
// the timer that wakes the tracker when the next one is due.
func (r *reader) flushDue(ctx context.Context, t *tracker, s *settings, now time.Time) {
	since, ok := t.dec.Pending()
	if ok && now.Sub(since) >= s.flushTimeout {
		out := t.dec.FlushBefore(r.decoded[:0], now.Add(-s.flushTimeout))
		r.c.metrics.partialFlushes.WithLabelValues("timeout").Add(float64(len(out)))
		if !r.emit(ctx, t, out) {
			return
		}
		since, ok = t.dec.Pending()
	}
	if !ok {
		if t.flushTimer != nil {
			t.flushTimer.Stop()
		}
		return
	}
	wait := since.Add(s.flushTimeout).Sub(now)
	if t.flushTimer == nil {
		m := r.c.manager
		t.flushTimer = time.AfterFunc(wait, func() { m.enqueue(t) })
	} else {
		t.flushTimer.Reset(wait)
	}
}

// flushAll sends every partial line of t as it is; reason labels the metric.
func (r *reader) flushAll(ctx context.Context, t *tracker, reason string) bool {
	if t.dec == nil {
		return true
	}
	out := t.dec.Flush(r.decoded[:0])
	if len(out) > 0 {
		r.c.metrics.partialFlushes.WithLabelValues(reason).Add(float64(len(out)))
	}
	return r.emit(ctx, t, out)
}

// release ends a drained, unwanted tracker: a last line without its newline is sent as it
// is (nothing will complete it), partial lines too, then the file is closed. Its position
// stays in the table until it is acknowledged (and, for a file still on disk, for a day).
func (r *reader) release(ctx context.Context, t *tracker, deleted bool) {
	if t.tail > 0 && t.skipping {
		r.c.metrics.droppedBytes.WithLabelValues("truncated").Add(float64(t.tail))
	} else if t.tail > 0 {
		buf := r.buf[:min(t.tail, len(r.buf))]
		if n, _ := t.f.ReadAt(buf, t.offset); n > 0 {
			r.decoded = t.dec.Line(r.decoded[:0], buf[:n], t.offset, false, time.Now())
			t.offset += int64(n)
			r.c.metrics.readBytes.Add(float64(n))
			r.emit(ctx, t, r.decoded)
		}
	}
	r.flushAll(ctx, t, "file_end")
	r.setSize(t, t.offset)
	t.close()
	r.c.table.release(t.pos, deleted)
	reason := "unmatched"
	switch {
	case t.gz != nil:
		reason = "compressed"
	case deleted:
		reason = "deleted"
	}
	r.c.metrics.filesReleased.WithLabelValues(reason).Inc()
	r.c.metrics.filesActive.Dec()
	r.c.opts.Logger.Debug("file released", "path", t.path, "reason", reason, "offset", t.offset)
}

// setSize records the file size and publishes the tracker's state for DebugInfo and
// unread_bytes.
func (r *reader) setSize(t *tracker, size int64) {
	t.size = size
	t.publish()
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

func (r *reader) readError(t *tracker, err error) {
	r.c.metrics.fileErrors.WithLabelValues("read").Inc()
	if !t.warnedRead {
		t.warnedRead = true
		r.c.opts.Logger.Warn("cannot read file", "path", t.path, "err", err)
	}
}
