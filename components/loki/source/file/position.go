package file

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/internal/logbatch"
)

// forgetAfter is how long the position of a file that is no longer tailed (but was not seen
// deleted) is kept: long enough that a file coming back into the globs, or a restart with a
// changed configuration, resumes where it was.
const forgetAfter = 24 * time.Hour

// position is the delivery state of one file identity. It outlives the file's tracker,
// because acknowledgements can arrive after the file was released, and it is what the
// positions file records.
//
// Its Stream commits offsets in order as the batches carrying the file's lines are
// acknowledged (see internal/logbatch); a new generation starts when the file is truncated.
type position struct {
	logbatch.Stream[int64] // the committed offset and the highest offset handed to the batcher

	id fileID

	mu      sync.Mutex // guards what follows; taken before the Stream's own lock
	path    string
	fp      uint64
	fpLen   int
	tracked bool // a tracker has the file open
	deleted bool // released after its file was deleted: forgotten once acknowledged
	seen    time.Time
}

// reset starts a new generation at offset start, for content identified by fp: the file was
// truncated (or opened anew). Records of older generations no longer commit anything.
// It returns the new generation.
func (p *position) reset(start int64, fp uint64, fpLen int) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fp, p.fpLen = fp, fpLen
	return p.Reset(start)
}

// state returns what a tracker resuming a known position needs.
func (p *position) state() (gen uint64, committed int64, fp uint64, fpLen int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.State()
	return st.Gen, st.Committed, p.fp, p.fpLen
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

func newTable(entries []savedPosition) *table {
	t := &table{byID: make(map[fileID]*position, len(entries))}
	for _, e := range entries {
		id := fileID{dev: e.Device, ino: e.Inode}
		p := &position{id: id, path: e.Path, fp: e.fingerprint(), fpLen: e.FingerprintLength, seen: time.Unix(e.Seen, 0)}
		p.Restore(e.Offset)
		t.byID[id] = p
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

// knownContent reports whether a position is recorded for the file at path (identity id)
// and the file still starts with the content it was recorded for. An inode freed while
// sonde was stopped (the kubelet removes a rotation once compressed) is soon given to a new
// file, on ext4 to the very next one (the new 0.log): that file is not the one the position
// was recorded for. A file that cannot be read is taken as known.
func (t *table) knownContent(id fileID, path string) bool {
	t.mu.Lock()
	p, ok := t.byID[id]
	t.mu.Unlock()
	if !ok {
		return false
	}
	p.mu.Lock()
	fp, fpLen := p.fp, p.fpLen
	p.mu.Unlock()
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	got, err := fingerprint(f, fpLen, make([]byte, fpLen))
	return err == nil && got == fp
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
func (t *table) snapshot(now time.Time) (out []savedPosition, lag int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out = make([]savedPosition, 0, len(t.byID))
	for id, p := range t.byID {
		p.mu.Lock()
		if p.tracked {
			p.seen = now
		}
		st := p.State()
		forget := (p.deleted && st.Pending == 0) || (!p.tracked && now.Sub(p.seen) > forgetAfter)
		if !forget {
			lag += st.Handed - st.Committed
			out = append(out, newSavedPosition(p.path, id, p.fp, p.fpLen, st.Committed, p.seen))
		}
		p.mu.Unlock()
		if forget {
			delete(t.byID, id)
		}
	}
	return out, lag
}
