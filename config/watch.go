package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch calls onChange whenever the content of the file at path changes, until ctx ends.
// It watches the file's directory, not the file, so that editors that replace the file and
// the atomic symlink swap of a Kubernetes ConfigMap volume (..data -> ..2024_…) are both
// seen; a poll every pollEvery catches filesystems where fsnotify does not fire. Events
// that leave the content as it was are ignored.
func Watch(ctx context.Context, path string, pollEvery time.Duration, logger *slog.Logger, onChange func()) {
	last := fileHash(path)
	check := func() {
		if h := fileHash(path); h != nil && !bytes.Equal(h, last) {
			last = h
			onChange()
		}
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w, err := fsnotify.NewWatcher(); err != nil {
		logger.Warn("config file watch unavailable; polling only", "err", err)
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(path)); err != nil {
			logger.Warn("config file watch unavailable; polling only", "err", err)
		} else {
			events, errs = w.Events, w.Errors
		}
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	// Several events arrive for one change; settle briefly before reading.
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			settle = time.After(100 * time.Millisecond)
		case err := <-errs:
			logger.Warn("config file watch error", "err", err)
		case <-settle:
			settle = nil
			check()
		case <-tick.C:
			check()
		}
	}
}

func fileHash(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	h := sha256.Sum256(data)
	return h[:]
}
