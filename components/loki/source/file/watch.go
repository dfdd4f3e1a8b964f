package file

import (
	"context"
	"errors"
	"log/slog"

	"github.com/fsnotify/fsnotify"
)

// watches keeps fsnotify watches on the directories the globs go through. Directories, not
// files: new files and rotations show up as events on their directory, and so do writes to
// every file in it, with one watch per directory. Where fsnotify is unavailable or a watch
// cannot be added (inotify limits, some network filesystems), the poll still finds
// everything, later.
type watches struct {
	w       *fsnotify.Watcher // nil: polling only
	logger  *slog.Logger
	metrics *metrics
	dirs    map[string]struct{}
	failed  map[string]struct{} // dirs whose watch failed, logged once
}

// newWatches starts fsnotify, unless pollOnly.
func newWatches(logger *slog.Logger, m *metrics, pollOnly bool) *watches {
	ws := &watches{logger: logger, metrics: m, dirs: map[string]struct{}{}, failed: map[string]struct{}{}}
	if pollOnly {
		return ws
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		m.fileErrors.WithLabelValues("watch").Inc()
		logger.Warn("fsnotify unavailable, finding changes by polling only", "err", err)
		return ws
	}
	ws.w = w
	return ws
}

// reconcile watches exactly dirs.
func (ws *watches) reconcile(dirs map[string]struct{}) {
	if ws.w == nil {
		return
	}
	for d := range ws.dirs {
		if _, ok := dirs[d]; !ok {
			_ = ws.w.Remove(d) // fails harmlessly for a directory already deleted
			delete(ws.dirs, d)
		}
	}
	for d := range dirs {
		if _, ok := ws.dirs[d]; ok {
			continue
		}
		if err := ws.w.Add(d); err != nil {
			ws.metrics.fileErrors.WithLabelValues("watch").Inc()
			if _, logged := ws.failed[d]; !logged {
				ws.failed[d] = struct{}{}
				ws.logger.Warn("cannot watch directory, relying on polling for it", "dir", d, "err", err)
			}
			continue
		}
		delete(ws.failed, d)
		ws.dirs[d] = struct{}{}
	}
	for d := range ws.failed {
		if _, ok := dirs[d]; !ok {
			delete(ws.failed, d)
		}
	}
	ws.metrics.watchedDirs.Set(float64(len(ws.dirs)))
}

// run turns events into work until ctx ends: a write wakes the file's tracker, anything
// that can change which files match (create, remove, rename, attribute change such as a
// deletion of an open file) asks for a reconcile, and a lost event queue asks for both.
func (ws *watches) run(ctx context.Context, m *manager, rescan func()) {
	if ws.w == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ws.w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Write) {
				m.wake(ev.Name)
			}
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Chmod) {
				rescan()
			}
		case err, ok := <-ws.w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				rescan()
				m.wakeAll()
			}
			ws.metrics.fileErrors.WithLabelValues("watch").Inc()
			ws.logger.Debug("fsnotify error", "err", err)
		}
	}
}

// close ends the watcher; run returns.
func (ws *watches) close() {
	if ws.w != nil {
		_ = ws.w.Close()
	}
}
