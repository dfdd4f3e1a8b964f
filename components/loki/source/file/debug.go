package file

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sondehq/sonde/components/loki/source/file/decode"
	"github.com/sondehq/sonde/pipeline"
)

var _ pipeline.DebugInfoProvider = (*Component)(nil)

// debugMaxFiles bounds the files DebugInfo lists: a node may tail thousands, and the page
// and the API answer stay small. The files left out are counted in the totals.
const debugMaxFiles = 1000

// File rotation states reported by DebugInfo.
const (
	// FileLive is a file the paths or targets match now.
	FileLive = "live"
	// FileRotatedDraining is a file no longer matched (renamed by a rotation, or its glob
	// or target went away) that is read to its end before it is closed.
	FileRotatedDraining = "rotated-draining"
	// FileDeletedDraining is a deleted file still open, read to its end before it is closed.
	FileDeletedDraining = "deleted-draining"
)

// DebugInfo is what loki.source.file reports about its files in the UI and under `debug`
// in GET /api/v1/components/<id>.
type DebugInfo struct {
	Totals FileTotals `json:"totals"`
	// Files are the tailed files, sorted by path; when there are more than 1000, the 1000
	// with the most lag (Totals.Omitted says how many others there are).
	Files []FileDebugInfo `json:"files"`
}

// FileTotals sums up every tailed file, listed or not.
type FileTotals struct {
	Files           int `json:"files"`
	Live            int `json:"live"`
	RotatedDraining int `json:"rotated_draining"`
	DeletedDraining int `json:"deleted_draining"`
	// Omitted is how many files Files leaves out.
	Omitted     int   `json:"omitted"`
	SizeBytes   int64 `json:"size_bytes"`
	UnreadBytes int64 `json:"unread_bytes"`
	LagBytes    int64 `json:"lag_bytes"`
	// Positions is how many file positions are kept, tailed or not (released files wait
	// for their last acknowledgements, or are remembered for a day).
	Positions int `json:"positions"`
}

// FileDebugInfo describes one tailed file.
type FileDebugInfo struct {
	// Path is where the file was last matched (a link's target); a rotated file keeps the
	// name it had when it was matched.
	Path string `json:"path"`
	// State is live, rotated-draining or deleted-draining.
	State string `json:"state"`
	// Format is the format decoded: cri, docker or raw (auto until the first line is read).
	Format    string `json:"format"`
	SizeBytes int64  `json:"size_bytes"`
	// ReadOffset is the next byte to read (always at a line boundary).
	ReadOffset int64 `json:"read_offset"`
	// AckedOffset is the committed offset: every line before it was acknowledged by
	// forward_to; it is what the positions file records.
	AckedOffset int64 `json:"acked_offset"`
	// LagBytes is SizeBytes − AckedOffset: written but not yet delivered.
	LagBytes int64 `json:"lag_bytes"`
	// LastRead is when new lines were last read from the file; absent until then.
	LastRead *time.Time `json:"last_read,omitempty"`
	Device   uint64     `json:"device"`
	Inode    uint64     `json:"inode"`
}

// trackerDebug is what a tracker's reader publishes for DebugInfo: the reader owns the
// tracker's fields without a lock, so it copies the few DebugInfo needs into atomics once
// per read (never per line).
type trackerDebug struct {
	offset   atomic.Int64
	size     atomic.Int64
	lastRead atomic.Int64 // Unix nanoseconds; 0 until lines are read
	format   atomic.Uint32
	deleted  atomic.Bool
}

// publish copies the reader-owned state of t for DebugInfo.
func (t *tracker) publish() {
	t.debug.offset.Store(t.offset)
	t.debug.size.Store(t.size)
	if t.dec != nil {
		t.debug.format.Store(uint32(t.dec.Format()))
	}
}

// runState is what Run sets up that DebugInfo reads.
type runState struct {
	manager *manager
	table   *table
}

// DebugInfo implements pipeline.DebugInfoProvider. It takes the manager's lock only to
// copy the list of trackers, then each position's lock for a moment: readers and the
// batcher are never held up for longer than a map walk.
func (c *Component) DebugInfo() any {
	info := DebugInfo{Files: []FileDebugInfo{}}
	r := c.running.Load()
	if r == nil {
		return info // not running
	}
	type entry struct {
		t        *tracker
		path     string
		unwanted bool
	}
	r.manager.mu.Lock()
	ts := make([]entry, 0, len(r.manager.byID))
	for _, t := range r.manager.byID {
		if t.state != stateReleased {
			ts = append(ts, entry{t, t.path, t.unwanted || t.gz != nil})
		}
	}
	r.manager.mu.Unlock()
	r.table.mu.Lock()
	info.Totals.Positions = len(r.table.byID)
	r.table.mu.Unlock()

	files := make([]FileDebugInfo, 0, len(ts))
	for _, e := range ts {
		f := fileDebugInfo(e.t, e.path, e.unwanted)
		switch f.State {
		case FileLive:
			info.Totals.Live++
		case FileRotatedDraining:
			info.Totals.RotatedDraining++
		default:
			info.Totals.DeletedDraining++
		}
		info.Totals.SizeBytes += f.SizeBytes
		info.Totals.UnreadBytes += max(f.SizeBytes-f.ReadOffset, 0)
		info.Totals.LagBytes += f.LagBytes
		files = append(files, f)
	}
	info.Totals.Files = len(files)
	info.Files, info.Totals.Omitted = boundFiles(files, debugMaxFiles)
	return info
}

// unreadBytes is the unread_bytes gauge: for every open file, its size now (a stat of the
// open descriptor, so it moves while the readers are blocked by backpressure and do not
// look) less the offset its reader published. It takes the manager's lock only to copy the
// list of trackers; a file closed meanwhile is skipped (its descriptor refuses the stat).
func (c *Component) unreadBytes() float64 {
	r := c.running.Load()
	if r == nil {
		return 0
	}
	r.manager.mu.Lock()
	ts := make([]*tracker, 0, len(r.manager.byID))
	for _, t := range r.manager.byID {
		if t.state != stateReleased && t.gz == nil { // a compressed file's size says nothing
			ts = append(ts, t)
		}
	}
	r.manager.mu.Unlock()
	var n int64
	for _, t := range ts {
		fi, err := t.f.Stat()
		if err != nil {
			continue
		}
		n += max(fi.Size()-t.debug.offset.Load(), 0)
	}
	return float64(n)
}

// boundFiles keeps the limit files with the most lag, sorted by path, and says how many it
// left out: the files worth looking at are those falling behind.
func boundFiles(files []FileDebugInfo, limit int) (kept []FileDebugInfo, omitted int) {
	if len(files) > limit {
		slices.SortFunc(files, func(a, b FileDebugInfo) int {
			return cmp.Or(cmp.Compare(b.LagBytes, a.LagBytes), cmp.Compare(a.Path, b.Path))
		})
		omitted = len(files) - limit
		files = files[:limit]
	}
	slices.SortFunc(files, func(a, b FileDebugInfo) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Inode, b.Inode))
	})
	return files, omitted
}

// fileDebugInfo describes t, matched at path; unwanted says whether no glob matches it any
// more.
func fileDebugInfo(t *tracker, path string, unwanted bool) FileDebugInfo {
	f := FileDebugInfo{
		Path:       path,
		State:      FileLive,
		Format:     decode.Format(t.debug.format.Load()).String(),
		SizeBytes:  t.debug.size.Load(),
		ReadOffset: t.debug.offset.Load(),
		Device:     t.id.dev,
		Inode:      t.id.ino,
	}
	if unwanted {
		f.State = FileRotatedDraining
		if t.debug.deleted.Load() {
			f.State = FileDeletedDraining
		}
	}
	if ns := t.debug.lastRead.Load(); ns != 0 {
		at := time.Unix(0, ns)
		f.LastRead = &at
	}
	f.AckedOffset = t.pos.State().Committed
	f.LagBytes = max(f.SizeBytes-f.AckedOffset, 0)
	return f
}
