package kubernetes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// positionsFile is the name of the positions file under Options.DataPath.
const positionsFile = "positions.json"

// positionsVersion is the format version written in the file.
const positionsVersion = 1

// savedPosition is one stream's acknowledged cursor as written to the positions file.
type savedPosition struct {
	UID       string    `json:"uid"`
	Container string    `json:"container"`
	Namespace string    `json:"namespace,omitempty"` // informational
	Pod       string    `json:"pod,omitempty"`       // informational
	Timestamp time.Time `json:"timestamp"`
	Lines     int       `json:"lines"` // lines at exactly Timestamp already acknowledged
}

type positionsDoc struct {
	Version int             `json:"version"`
	Streams []savedPosition `json:"streams"`
}

// loadPositions reads the positions file at path. A missing file is no positions; entries
// without a uid, container or timestamp are skipped and counted in bad.
func loadPositions(path string) (saved []savedPosition, bad int, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var doc positionsDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, 0, fmt.Errorf("positions file %s: %w", path, err)
	}
	if doc.Version != positionsVersion {
		return nil, 0, fmt.Errorf("positions file %s: unsupported version %d (this build reads %d)", path, doc.Version, positionsVersion)
	}
	for _, s := range doc.Streams {
		if s.UID == "" || s.Container == "" || s.Timestamp.IsZero() || s.Lines < 0 {
			bad++
			continue
		}
		saved = append(saved, s)
	}
	return saved, bad, nil
}

// savePositions writes the positions file atomically: a temporary file, fsynced, renamed
// over the old one, and the directory fsynced, so a crash leaves the old or the new file,
// whole.
func savePositions(path string, saved []savedPosition) error {
	if saved == nil {
		saved = []savedPosition{}
	}
	b, err := json.MarshalIndent(positionsDoc{Version: positionsVersion, Streams: saved}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, positionsFile+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
