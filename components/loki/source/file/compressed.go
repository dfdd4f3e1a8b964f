package file

// Compressed rotations. The kubelet gzips a rotation at its next rotation (0.log.<ts> is
// written to 0.log.<ts>.tmp through gzip, renamed 0.log.<ts>.gz, then removed). While sonde
// runs this costs nothing: a file is read through its open descriptor to its end, whatever
// becomes of its name. But when sonde was stopped (or killed) before it had delivered a
// file to its end, and the kubelet rotated and compressed it meanwhile, the rest of the
// file is only in the .gz. So, when a stream is first matched (at start-up, or when it
// shows up), each position restored from the positions file whose file was not found is
// looked for among the .gz files of its stream: one whose uncompressed content starts with
// the position's fingerprint holds that file's content. It is read through gzip from the
// position's offset to its end — the same decoding, labels and acknowledgements as any
// file, its position saved under the .gz meanwhile — and then released, its position
// forgotten once acknowledged: it is never read again. A .gz without a position stays
// unread, as its content was read from the file it was made from.

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sondehq/sonde/components/loki/source/file/decode"
)

// compressedSuffix is the name of a compressed rotation: the file it was made from, ".gz".
const compressedSuffix = ".gz"

// skipBudget is how much of a compressed file a reader decompresses and drops, to reach the
// saved offset, before it lets other files have a turn.
const skipBudget = 64 << 20

// gzSource is the reading state of a compressed file: its content comes in order through
// a gzip stream, never whole.
type gzSource struct {
	zr   *gzip.Reader // opened at the first read
	pos  int64        // the uncompressed offset of the next byte zr returns
	tail []byte       // the bytes before pos not consumed yet: an unfinished line
}

// restoredPositions returns the positions read from the positions file: those whose file
// may have been compressed while sonde was stopped.
func (t *table) restoredPositions() []*position {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*position, 0, len(t.byID))
	for _, p := range t.byID {
		out = append(out, p)
	}
	return out
}

// adopt moves the restored position p, whose file is gone, to the compressed file id at
// path that holds the same content (offsets stay those of the uncompressed content), and
// returns it, tracked.
func (t *table) adopt(p *position, id fileID, path string) *position {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.byID[p.id] == p {
		delete(t.byID, p.id)
	}
	np := &position{id: id, path: path, fp: p.fp, fpLen: p.fpLen, tracked: true, seen: time.Now()}
	np.Restore(p.State().Committed)
	t.byID[id] = np
	t.dirty.Store(true)
	return np
}

// recoverCompressed opens the compressed files holding the rest of files sonde had a
// position for when it started and that are gone, in the streams matched for the first
// time this round (fresh, see firstSight); it returns their trackers, registered with the
// manager (and held for their pod when needed), for the caller to queue. Each restored
// position is looked at once, when its stream is first matched; one whose file was found
// (claimed by a tracker) is done with.
func (c *Component) recoverCompressed(wanted map[string]wantedFile, fresh map[string]string, now time.Time) []*tracker {
	if len(c.unsettled) == 0 || len(fresh) == 0 {
		return nil
	}
	byDir := map[string][]restored{}
	keep := c.unsettled[:0]
	for _, p := range c.unsettled {
		p.mu.Lock()
		r := restored{p: p, path: p.path, fp: p.fp, fpLen: p.fpLen}
		tracked := p.tracked
		p.mu.Unlock()
		_, first := fresh[rotationBase(r.path)]
		switch {
		case tracked: // its file was found
		case !first:
			keep = append(keep, p) // its stream is not matched (yet)
		case r.fpLen > 0 && r.fpLen <= fingerprintSize: // else it identifies no content
			dir := filepath.Dir(r.path)
			byDir[dir] = append(byDir[dir], r)
		}
	}
	clear(c.unsettled[len(keep):])
	c.unsettled = keep
	if len(byDir) == 0 {
		return nil
	}
	streams := map[string]*wantedFile{}
	for p, w := range wanted {
		if s := rotationBase(p); streams[s] == nil {
			streams[s] = &w
		}
	}
	var opened []*tracker
	for dir, rs := range byDir {
		for _, m := range findCompressed(dir, rs) {
			if t := c.openCompressed(m, streams[rotationBase(m.path)], now); t != nil {
				opened = append(opened, t)
			}
		}
	}
	return opened
}

// restored is a restored position whose file was not found, as it was read back.
type restored struct {
	p     *position
	path  string
	fp    uint64
	fpLen int
}

// compressedMatch is a compressed file holding the content of a restored position.
type compressedMatch struct {
	path string
	f    *os.File
	info os.FileInfo
	id   fileID
	pos  *position
}

// findCompressed returns, for the restored positions rs of files of dir that are gone, the
// .gz files of their streams in dir whose uncompressed content starts with their
// fingerprint. The first fingerprintSize bytes of each .gz are decompressed, no more.
func findCompressed(dir string, rs []restored) []compressedMatch {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	head := make([]byte, fingerprintSize)
	taken := map[*position]bool{}
	var out []compressedMatch
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, compressedSuffix) || !de.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, name)
		stream := rotationBase(path)
		if !slices.ContainsFunc(rs, func(r restored) bool { return !taken[r.p] && rotationBase(r.path) == stream }) {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		var best *position
		fi, err := f.Stat()
		id, _, ok := identify(fi)
		if err == nil && ok {
			n := gzipHead(f, head)
			for _, r := range rs {
				if !taken[r.p] && rotationBase(r.path) == stream && r.fpLen <= n && fingerprintOf(head[:r.fpLen]) == r.fp &&
					(best == nil || best.State().Committed < r.p.State().Committed) {
					best = r.p
				}
			}
		}
		if best == nil {
			f.Close()
			continue
		}
		taken[best] = true
		out = append(out, compressedMatch{path: path, f: f, info: fi, id: id, pos: best})
	}
	return out
}

// gzipHead decompresses the first len(head) bytes of the gzip file f into head and returns
// how many there are (0 when f is not gzip).
func gzipHead(f *os.File, head []byte) int {
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0
	}
	n, _ := io.ReadFull(zr, head)
	return n
}

// openCompressed makes the tracker of the compressed file m, labelled as the files of its
// stream (w), reading from m's position; nil when the file is tracked already.
func (c *Component) openCompressed(m compressedMatch, w *wantedFile, now time.Time) *tracker {
	s := c.settings()
	cw := *w
	cw.match = match{path: m.path, real: m.path, info: m.info, rotatedOf: w.labelPath}
	cw.key = newLabelKey(cw.labelPath, m.path, cw.target, s)
	mg := c.manager
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if mg.byID[m.id] != nil {
		m.f.Close()
		return nil
	}
	pos := c.table.adopt(m.pos, m.id, m.path)
	t := &tracker{id: m.id, pos: pos, f: m.f, path: m.path, dir: filepath.Dir(m.path), gz: &gzSource{}, round: c.round}
	t.decCfg = s.decodeConfig()
	t.dec = decode.New(t.decCfg)
	t.gen, t.offset, t.fp, t.fpLen = pos.state()
	t.safe, t.size = t.offset, t.offset
	labels, key, pod := c.labelFile(&cw, s)
	t.labels.Store(labels)
	t.labelKey = key
	t.publish()
	mg.byID[m.id] = t
	c.holdNew(t, cw, pod, now)
	c.metrics.filesOpened.Inc()
	c.metrics.filesActive.Inc()
	c.opts.Logger.Info("reading the rest of a file compressed while sonde was stopped",
		"path", m.path, "offset", t.offset)
	return t
}

// processCompressed reads what is left of a compressed file, as process does for others:
// first decompressing and dropping what comes before its offset (at most skipBudget a turn),
// then readBudget of lines a turn. At the end of its content it is released. It reports
// whether t has more to read right away.
func (r *reader) processCompressed(ctx context.Context, t *tracker) (more bool) {
	s := r.c.settings()
	now := time.Now()
	if cfg := s.decodeConfig(); cfg != t.decCfg {
		r.flushAll(ctx, t, "config_change")
		t.dec, t.decCfg = decode.New(cfg), cfg
	}
	g := t.gz
	if g.zr == nil {
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return r.compressedEnd(ctx, t, err)
		}
		zr, err := gzip.NewReader(bufio.NewReaderSize(t.f, 64<<10))
		if err != nil {
			return r.compressedEnd(ctx, t, err)
		}
		g.zr = zr
	}
	if g.pos < t.offset {
		n, err := io.CopyN(io.Discard, g.zr, min(t.offset-g.pos, skipBudget))
		g.pos += n
		switch {
		case isEOF(err):
			return r.compressedEnd(ctx, t, nil) // shorter than the position: nothing left
		case err != nil:
			return r.compressedEnd(ctx, t, err)
		case g.pos < t.offset:
			return true
		}
	}
	buf := r.buffer(s)
	for budget := readBudget; budget > 0; {
		n := copy(buf, g.tail)
		got, err := io.ReadFull(g.zr, buf[n:])
		g.pos += int64(got)
		n += got
		end := errors.Is(err, io.ErrUnexpectedEOF) || isEOF(err)
		if err != nil && !end {
			return r.compressedEnd(ctx, t, err)
		}
		consumed := r.decodeLines(t, buf[:n], now)
		g.tail = append(g.tail[:0], buf[consumed:n]...)
		r.advance(t, consumed, now)
		budget -= consumed
		if !r.emit(ctx, t, r.decoded) {
			return false
		}
		if end {
			return r.compressedEnd(ctx, t, nil)
		}
	}
	r.setSize(t, t.offset+int64(len(g.tail)))
	return true
}

// compressedEnd ends the reading of a compressed file: at the end of its content, a last
// line without its newline is sent as it is; after an error (err), what was read is sent
// and the rest is given up. The tracker is then released and its position forgotten once
// acknowledged.
func (r *reader) compressedEnd(ctx context.Context, t *tracker, err error) bool {
	g := t.gz
	if err != nil {
		r.readError(t, err)
	} else if len(g.tail) > 0 {
		if t.skipping {
			r.c.metrics.droppedBytes.WithLabelValues("truncated").Add(float64(len(g.tail)))
		} else {
			r.decoded = t.dec.Line(r.decoded[:0], g.tail, t.offset, false, time.Now())
			r.c.metrics.readBytes.Add(float64(len(g.tail)))
			t.offset += int64(len(g.tail))
			r.emit(ctx, t, r.decoded)
		}
	}
	g.zr, g.tail, t.tail = nil, nil, 0
	r.c.manager.forget(t)
	r.release(ctx, t, true)
	return false
}
