package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sondehq/sonde/internal/positions"
)

// positionsFile is the name of the positions file under Options.DataPath. Its format is
// internal/positions'; savedPosition is one of its entries.
const positionsFile = "positions.json"

// savedPosition is one stream's acknowledged cursor as written to the positions file.
type savedPosition struct {
	UID       string    `json:"uid"`
	Container string    `json:"container"`
	Namespace string    `json:"namespace,omitempty"` // informational
	Pod       string    `json:"pod,omitempty"`       // informational
	Timestamp time.Time `json:"timestamp"`
	Lines     int       `json:"lines"` // lines at exactly Timestamp already acknowledged
}

// Valid implements positions.Entry: an entry needs a uid, a container and a timestamp.
func (s savedPosition) Valid() bool {
	return s.UID != "" && s.Container != "" && !s.Timestamp.IsZero() && s.Lines >= 0
}

// loadPositions reads the positions file at path, written by this version or by one before
// it shared internal/positions' format (legacyPositions). A missing file is no positions;
// entries that are not Valid are skipped and counted in bad.
func loadPositions(path string) (saved []savedPosition, bad int, err error) {
	positions.RemoveStale(path)
	data, err := positions.Read(path)
	if err != nil {
		return nil, 0, err
	}
	if saved, bad, ok, err := legacyPositions(data); ok {
		if err != nil {
			return nil, 0, fmt.Errorf("positions file %s: %w", path, err)
		}
		return saved, bad, nil
	}
	saved, bad, err = positions.Parse[savedPosition](data)
	if err != nil {
		return nil, 0, fmt.Errorf("positions file %s: %w", path, err)
	}
	return saved, bad, nil
}

// legacyVersion is the version the earlier format wrote in its document.
const legacyVersion = 1

// legacyPositions reads the format loki.source.kubernetes wrote before it shared
// loki.source.file's: one indented JSON document {"version":1,"streams":[...]}. ok is false
// when data is not in that format. The next save writes the current format.
func legacyPositions(data []byte) (saved []savedPosition, bad int, ok bool, err error) {
	var doc struct {
		Version int              `json:"version"`
		Streams *[]savedPosition `json:"streams"`
	}
	// A file in the current format is several JSON values (its header, then one per entry)
	// and never holds streams.
	if !bytes.Contains(data, []byte(`"streams"`)) || json.Unmarshal(data, &doc) != nil || doc.Streams == nil {
		return nil, 0, false, nil
	}
	if doc.Version != legacyVersion {
		return nil, 0, true, fmt.Errorf("unsupported version %d (this build reads %d)", doc.Version, legacyVersion)
	}
	for _, s := range *doc.Streams {
		if !s.Valid() {
			bad++
			continue
		}
		saved = append(saved, s)
	}
	return saved, bad, true, nil
}
