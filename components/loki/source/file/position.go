package file

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/components/loki/source/file/positions"
)

// forgetAfter is how long the position of a file that is no longer tailed (but was not seen
// deleted) is kept: long enough that a file coming back into the globs, or a restart with a
// changed configuration, resumes where it was.
const forgetAfter = 24 * time.Hour

// position is the delivery state of one file identity. It outlives the file's tracker,
// because acknowledgements can arrive after the file was released, and it is what the
// positions file records.
//
// Offsets only become committed in order: every batch that carries lines of the file holds a
// record, appended to pending in the order the batches are built; an acknowledged record
// commits its end offset once every record before it is acknowledged too.
type position struct {
	id fileID

	mu        sync.Mutex
	path      string
	fp        uint64
	fpLen     int
	gen       uint64 // incremented when the file is truncated: older records no longer count
	committed int64  // every line before it was acknowledged
	sent      int64  // the highest offset handed to the batcher in this generation
	pending   []*record
	tracked   bool // a tracker has the file open
	deleted   bool // released after its file was deleted: forgotten once acknowledged
	seen      time.Time
}

// record is a file's share of one batch: acknowledging the batch commits end.
type record struct {
	pos   *position
	gen   uint64
	end   int64
	acked bool
}

// newRecord appends a record for a batch being built, or returns nil when gen is stale
// (the file was truncated after the lines were read).
func (p *position) newRecord(gen uint64) *record {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen {
		return nil
	}
	r := &record{pos: p, gen: gen, end: p.sent}
	p.pending = append(p.pending, r)
	return r
}

// extend sets the end of r (a record of the batch being built) to safe.
func (p *position) extend(r *record, safe int64) {
	p.mu.Lock()
	if r.gen == p.gen && safe > r.end {
		r.end = safe
		if safe > p.sent {
			p.sent = safe
		}
	}
	p.mu.Unlock()
}

// ack marks r acknowledged and commits what became contiguous. It reports whether the
// committed offset moved.
func (p *position) ack(r *record) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r.acked = true
	if r.gen != p.gen {
		return false
	}
	moved := false
	n := 0
	for n < len(p.pending) && p.pending[n].acked {
		if e := p.pending[n].end; e > p.committed {
			p.committed, moved = e, true
		}
		n++
	}
	if n > 0 {
		clear(p.pending[:n])
		p.pending = p.pending[n:]
	}
	return moved
}

// reset starts a new generation at offset start, for content identified by fp: the file was
// truncated (or opened anew). Records of older generations no longer commit anything.
// It returns the new generation.
func (p *position) reset(start int64, fp uint64, fpLen int) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.committed, p.sent = start, start
	p.pending = nil
	p.fp, p.fpLen = fp, fpLen
	return p.gen
}

// state returns what a tracker resuming a known position needs.
func (p *position) state() (gen uint64, committed int64, fp uint64, fpLen int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen, p.committed, p.fp, p.fpLen
}

// setFingerprint records a longer fingerprint of the same content.
func (p *position) setFingerprint(fp uint64, fpLen int) {
	p.mu.Lock()
	p.fp, p.fpLen = fp, fpLen
	p.mu.Unlock()
}

// table holds the positions of every file identity known, tailed or not.
type table struct {
	mu   sync.Mutex
	byID map[fileID]*position

	// dirty is set when anything the positions file records changed.
	dirty atomic.Bool
}

func newTable(entries []positions.Entry) *table {
	t := &table{byID: make(map[fileID]*position, len(entries))}
	for _, e := range entries {
		id := fileID{dev: e.Device, ino: e.Inode}
		t.byID[id] = &position{
			id: id, path: e.Path, fp: e.Fingerprint, fpLen: e.FingerprintLength,
			committed: e.Offset, sent: e.Offset, seen: time.Unix(e.Seen, 0),
		}
	}
	return t
}

// claim returns the position of id for a tracker that opened it. known says whether a
// recorded position applies: match is called with the recorded fingerprint length and says
// whether the file still starts with the same content. Otherwise the position starts anew
// at offset 0 (the caller resets it where it starts elsewhere).
func (t *table) claim(id fileID, path string, match func(fpLen int, fp uint64) bool) (p *position, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.byID[id]
	if ok {
		p.mu.Lock()
		known = !p.tracked && match(p.fpLen, p.fp)
		if known {
			p.tracked, p.deleted, p.path = true, false, path
			p.mu.Unlock()
			return p, true
		}
		p.mu.Unlock()
	}
	// Unknown, or the inode now holds other content: a new position. Acknowledgements still
	// due for the old one find it detached and change nothing.
	p = &position{id: id, path: path, tracked: true, seen: time.Now()}
	t.byID[id] = p
	t.dirty.Store(true)
	return p, false
}

// known reports whether a position is recorded for id.
func (t *table) known(id fileID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.byID[id]
	return ok
}

// release marks p no longer tailed; deleted positions are forgotten once acknowledged.
func (t *table) release(p *position, deleted bool) {
	p.mu.Lock()
	p.tracked, p.deleted, p.seen = false, deleted, time.Now()
	p.mu.Unlock()
	t.dirty.Store(true)
}

// snapshot returns the entries to write and forgets what is no longer worth keeping. It
// also returns the bytes handed to the batcher but not yet acknowledged.
func (t *table) snapshot(now time.Time) (out []positions.Entry, lag int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out = make([]positions.Entry, 0, len(t.byID))
	for id, p := range t.byID {
		p.mu.Lock()
		if p.tracked {
			p.seen = now
		}
		forget := (p.deleted && len(p.pending) == 0) || (!p.tracked && now.Sub(p.seen) > forgetAfter)
		if !forget {
			lag += p.sent - p.committed
			out = append(out, positions.Entry{
				Path: p.path, Device: id.dev, Inode: id.ino, Fingerprint: p.fp, FingerprintLength: p.fpLen,
				Offset: p.committed, Seen: p.seen.Unix(),
			})
		}
		p.mu.Unlock()
		if forget {
			delete(t.byID, id)
		}
	}
	return out, lag
}
