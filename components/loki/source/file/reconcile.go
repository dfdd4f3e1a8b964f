package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sondehq/sonde/components/loki/source/file/decode"
	"github.com/sondehq/sonde/pipeline"
)

// wantedFile is a file the configuration asks for.
type wantedFile struct {
	match     match
	labelPath string // the path labels are derived from
	target    model.LabelSet
	key       labelKey
}

// labelFile builds the labels of w and the key they are remembered by, and says what the
// pod cache knew. The pod metadata (pod_labels, pod_annotations) is looked up here, once
// per file and not per line; a pod not in the cache (yet) marks the key pending, so that
// the next reconcile tries again.
func (c *Component) labelFile(w *wantedFile, s *settings) (*streamLabels, labelKey, podState) {
	key := w.key
	var pod model.LabelSet
	st := podNotAsked
	if c.pods.lookup != nil && s.kubernetes {
		if _, _, uid, _, ok := kubernetesPath(w.match.real); ok {
			pod, st = podExtra(c.pods.lookup, uid, s)
			key.podPending = st.pending()
		}
	}
	return newStreamLabels(w.labelPath, w.match.real, w.target, s, pod), key, st
}

// reconcile brings the open trackers in line with the files the targets and paths match
// now: files seen for the first time are opened, files matched again keep their tracker
// (following renames: identity is device and inode), files no longer matched are drained
// and then released by their reader. It also brings the watched directories in line.
// Only Run calls it.
func (c *Component) reconcile(targets pipeline.Targets) {
	s := c.settings()
	c.round++
	wanted := map[string]wantedFile{}
	dirs := map[string]struct{}{}
	c.expander.begin()
	defer c.expander.end()
	all := make([]model.LabelSet, 0, len(targets)+len(s.staticTargets))
	all = append(all, targets...)
	all = append(all, s.staticTargets...)
	for _, tgt := range all {
		pattern := string(tgt[pathLabel])
		if pattern == "" {
			continue
		}
		files, ds := c.expander.expand(pattern)
		for _, d := range ds {
			dirs[d] = struct{}{}
		}
		for _, f := range files {
			if _, dup := wanted[f.real]; dup { // the first target matching a file wins
				continue
			}
			labelPath := f.path
			if f.rotatedOf != "" {
				labelPath = f.rotatedOf // a rotation keeps the labels of the file it was
			}
			wanted[f.real] = wantedFile{match: f, labelPath: labelPath, target: tgt, key: newLabelKey(labelPath, f.real, tgt, s)}
		}
	}
	c.watches.reconcile(dirs)
	c.missingRoots = append(c.missingRoots[:0], c.expander.missing...)

	// Open in a stable order, so that start-up reads files in path order.
	paths := make([]string, 0, len(wanted))
	for p := range wanted {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	m := c.manager
	ignored := map[fileID]struct{}{}
	now := time.Now()
	streams, fresh := c.firstSight(wanted)
	var opened []*tracker
	for _, p := range paths {
		w := wanted[p]
		id, _, ok := identify(w.match.info)
		if ok && c.keep(id, p, &w, s) {
			continue
		}
		if ok && w.match.rotatedOf != "" && !c.followRotation(id, &w.match, fresh, ignored) {
			continue
		}
		t, pod, err := c.open(w)
		if err != nil {
			c.openError(p, err)
			continue
		}
		delete(c.warned, p)
		m.mu.Lock()
		if other := m.byID[t.id]; other != nil {
			// The path changed between the glob and the open (a rotation): the file opened
			// is already tracked. Keep the existing tracker; the next reconcile sorts out
			// the path.
			m.mu.Unlock()
			t.close()
			c.rescan()
			continue
		}
		offset := t.offset // the tracker belongs to the readers once queued
		t.round = c.round
		m.byID[t.id] = t
		m.byPath[p] = t
		c.holdNew(t, w, pod, now) // a held file is queued when let go
		m.mu.Unlock()
		opened = append(opened, t)
		c.metrics.filesOpened.Inc()
		c.metrics.filesActive.Inc()
		c.opts.Logger.Debug("file opened", "path", p, "offset", offset)
	}
	opened = append(opened, c.recoverCompressed(wanted, fresh, now)...)
	m.queueOpened(opened)

	// Whatever was not matched this round is drained and released by its reader.
	m.mu.Lock()
	for _, t := range m.byID {
		if t.round == c.round || t.unwanted || t.state == stateReleased || t.gz != nil {
			continue
		}
		t.unwanted, t.unwantedSince = true, now
		m.draining[t] = struct{}{}
		if m.byPath[t.path] == t {
			delete(m.byPath, t.path)
		}
		m.enqueueLocked(t)
	}
	m.mu.Unlock()
	c.ignored = ignored
	c.streams = streams
	c.checkHeld(now)
	for p := range c.warned {
		if _, ok := wanted[p]; !ok {
			delete(c.warned, p)
		}
	}
	c.first = false
}

// keep updates the tracker of id, if there is one, for being matched at path as w, and
// reports whether there was one.
func (c *Component) keep(id fileID, path string, w *wantedFile, s *settings) bool {
	m := c.manager
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.byID[id]
	if t == nil || t.state == stateReleased {
		return false
	}
	if t.path != path {
		// Renamed into a matched name (or matched by a second glob): follow it.
		if m.byPath[t.path] == t {
			delete(m.byPath, t.path)
		}
		t.path, t.dir = path, filepath.Dir(path)
		t.pos.mu.Lock()
		t.pos.path = path
		t.pos.mu.Unlock()
	}
	m.byPath[path] = t
	t.round = c.round
	if t.unwanted {
		t.unwanted = false
		delete(m.draining, t)
	}
	if h := c.held[t]; h != nil {
		h.w = *w // checkHeld labels it
		return true
	}
	if t.labelKey != w.key {
		labels, key, pod := c.labelFile(w, s)
		switch {
		case pod == podUnsynced:
			// A reopened cache has not listed the pods yet: keep the labels the file has
			// (they hold the pod metadata) and try again at the next reconcile.
		case pod == podMissing && !t.labelKey.podPending:
			c.metrics.podMissing.Inc() // once per file
			fallthrough
		default:
			t.labels.Store(labels)
		}
		t.labelKey = key
	}
	return true
}

// followRotation decides whether a kubelet rotation (0.log.<timestamp>) that is not
// tracked yet is opened. Rotations are followed so that nothing written before a rotation
// is lost when sonde missed it (it was stopped, or the file was renamed before it was
// found): one with a recorded position is resumed, one that appeared in a stream sonde
// already follows is read whole, and so is one found with its stream (at start-up, or when
// the stream appears) that was made while sonde did not look (madeUnseen). Other rotations
// found with their stream and without a position are older than sonde's watch and are left
// alone (and remembered in ignored, so that they stay left alone).
func (c *Component) followRotation(id fileID, m *match, fresh map[string]string, ignored map[fileID]struct{}) bool {
	if c.table.knownContent(id, m.real) {
		return true
	}
	_, before := c.ignored[id]
	newestKnown, found := fresh[rotationBase(m.real)]
	if before || (found && !c.madeUnseen(m, newestKnown)) {
		ignored[id] = struct{}{}
		return false
	}
	return true
}

// firstSight returns the streams (rotationBase) of the wanted files, and, for those not
// wanted at the last reconcile (all of them at start-up), the rotationRank of their newest
// file that has a recorded position ("" for none).
func (c *Component) firstSight(wanted map[string]wantedFile) (streams map[string]struct{}, fresh map[string]string) {
	streams, fresh = make(map[string]struct{}, len(c.streams)), map[string]string{}
	for p, w := range wanted {
		s := rotationBase(p)
		streams[s] = struct{}{}
		if _, seen := c.streams[s]; seen {
			continue
		}
		r := fresh[s]
		if id, _, ok := identify(w.match.info); ok && c.table.knownContent(id, p) {
			r = max(r, rotationRank(p))
		}
		fresh[s] = r
	}
	return streams, fresh
}

// madeUnseen reports whether a rotation found with its stream, without a position of its
// own, was made while sonde did not look (it was stopped, or the stream's live file was
// missing), so that its lines were never read. Either
//   - its stream has a saved position and no file of the stream that sonde knew is newer
//     (newestKnown): the kubelet made it after the last file sonde read was rotated, and
//     that file may be compressed by now; or
//   - its stream has none (a container started while sonde was down), and it was renamed
//     after the positions file was last written, or, at the first start (no positions
//     file), after this start (as the filesystem's clock tells: see fsNow).
//
// A rotation older than a file of its stream that sonde knew was there while sonde ran and
// was left alone then.
func (c *Component) madeUnseen(m *match, newestKnown string) bool {
	if _, ok := c.savedStreams[rotationBase(m.real)]; ok {
		return newestKnown < rotationRank(m.real)
	}
	ct := changeTime(m.info)
	switch {
	case ct.IsZero():
		return false
	case c.savedAt.IsZero():
		// Strictly after: a rotation stamped within the same clock tick as the start is
		// taken for one already there.
		return ct.After(c.started)
	default:
		return !ct.Before(c.savedAt)
	}
}

// open opens a newly matched file and places its read offset: where its recorded position
// says if the file still starts with the same content, else at 0, or, for files found at
// start-up with start_at: end, after the last complete line. It also says what the pod
// cache knew about the file's pod.
func (c *Component) open(w wantedFile) (*tracker, podState, error) {
	t, err := c.openFile(w)
	if err != nil {
		return nil, podNotAsked, err
	}
	labels, key, pod := c.labelFile(&w, c.settings())
	t.labels.Store(labels)
	t.labelKey = key
	return t, pod, nil
}

func (c *Component) openFile(w wantedFile) (*tracker, error) {
	path := w.match.real
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	id, _, ok := identify(fi)
	if !ok {
		f.Close()
		return nil, errors.New("file identity (device and inode) not available on this system")
	}
	size := fi.Size()
	buf := make([]byte, fingerprintSize)
	pos, known := c.table.claim(id, path, func(fpLen int, fp uint64) bool {
		got, err := fingerprint(f, fpLen, buf)
		return err == nil && got == fp
	})
	t := &tracker{id: id, pos: pos, f: f, path: path, dir: filepath.Dir(path), size: size}
	t.decCfg = c.settings().decodeConfig()
	t.dec = decode.New(t.decCfg)

	gen, committed, fp, fpLen := pos.state()
	switch {
	case known && committed <= size:
		t.gen, t.offset, t.fp, t.fpLen = gen, committed, fp, fpLen
	default:
		start := int64(0)
		if !known && c.first && c.settings().startAtEnd && !c.positionsLost && w.match.rotatedOf == "" && !c.streamSaved(path) {
			if start, err = lastLineEnd(f, size); err != nil {
				f.Close()
				return nil, err
			}
		}
		fpLen := int(min(size, fingerprintSize))
		fp, err := fingerprint(f, fpLen, buf)
		if err != nil {
			f.Close()
			return nil, err
		}
		t.gen = pos.reset(start, fp, fpLen)
		t.offset, t.fp, t.fpLen = start, fp, fpLen
	}
	t.safe = t.offset
	t.publish()
	return t, nil
}

// streamSaved reports whether the stream of the file at path had a position saved when
// sonde last ran: a file of it without a position was made since (a rotation while sonde
// was stopped), and is read whole even with start_at: end.
func (c *Component) streamSaved(path string) bool {
	_, ok := c.savedStreams[rotationBase(path)]
	return ok
}

// lastLineEnd returns the offset just after the last newline before size, looking back at
// most 64 KiB; 0 when the file holds no newline at all, size when the last line is longer.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	const window = 64 << 10
	from := max(size-window, 0)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	for i := len(buf) - 1; i >= 0; i-- {
		if buf[i] == '\n' {
			return from + int64(i) + 1, nil
		}
	}
	if from == 0 {
		return 0, nil
	}
	return size, nil
}

// openError counts a file that cannot be opened and logs it once per path: permission
// errors are the usual cause (a file the agent may not read), and they are retried at
// every reconcile without further noise.
func (c *Component) openError(path string, err error) {
	if errors.Is(err, os.ErrNotExist) {
		return // deleted between the glob and the open
	}
	reason := "open"
	if errors.Is(err, os.ErrPermission) {
		reason = "permission"
	}
	c.metrics.fileErrors.WithLabelValues(reason).Inc()
	if _, done := c.warned[path]; done {
		return
	}
	c.warned[path] = struct{}{}
	c.opts.Logger.Warn("cannot open file, will retry", "path", path, "reason", reason, "err", fmt.Sprint(err))
}
