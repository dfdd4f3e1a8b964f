package journal

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/sondehq/sonde/internal/positions"
)

// cursorFile is the name of the file under Options.DataPath that holds the cursor of the
// last entry forward_to acknowledged (internal/positions' format, one entry).
const cursorFile = "cursor.json"

// savedCursor is the cursor file's entry.
type savedCursor struct {
	Path      string    `json:"path"`               // the journal it is a cursor of
	Cursor    string    `json:"cursor"`             // journalctl's __CURSOR
	Timestamp time.Time `json:"timestamp,omitzero"` // the entry's time (informational)
}

// Valid implements positions.Entry.
func (s savedCursor) Valid() bool { return s.Path != "" && s.Cursor != "" }

// position is how far the journal is read or acknowledged: the n-th entry read since the
// component started (which orders positions) and its cursor.
type position struct {
	n      uint64
	cursor string
	time   time.Time
}

func positionLess(a, b position) bool { return a.n < b.n }

// loadCursor returns the cursor saved for the journal at path; "" when there is none (a
// cursor of another journal is not used). bad counts entries that did not parse.
func loadCursor(dataPath, path string) (saved savedCursor, bad int, err error) {
	file := filepath.Join(dataPath, cursorFile)
	positions.RemoveStale(file)
	entries, bad, err := positions.Load[savedCursor](file)
	if err != nil {
		return savedCursor{}, bad, fmt.Errorf("cursor file %s: %w", file, err)
	}
	for _, e := range entries {
		if e.Path == path {
			return e, bad, nil
		}
	}
	return savedCursor{}, bad, nil
}

// saveCursor writes the cursor file.
func saveCursor(dataPath, path string, p position) error {
	return positions.Save(filepath.Join(dataPath, cursorFile), []savedCursor{{Path: path, Cursor: p.cursor, Timestamp: p.time}})
}
