package file

import (
	"strconv"
	"time"
)

// positionsFile is the name of the positions file in the component's data directory. Its
// format is internal/positions'; savedPosition is one of its entries.
const positionsFile = "positions.json"

// maxFingerprintLength bounds savedPosition.FingerprintLength.
const maxFingerprintLength = 1 << 20

// savedPosition is the position of one file as the positions file records it.
type savedPosition struct {
	// Path is where the file was last seen; informational (identity is Device+Inode+fingerprint).
	Path   string `json:"path,omitempty"`
	Device uint64 `json:"dev"`
	Inode  uint64 `json:"ino"`
	// Fingerprint is a hash of the file's first FingerprintLength bytes (see fingerprint),
	// in hexadecimal so that the file reads well.
	Fingerprint       string `json:"fp"`
	FingerprintLength int    `json:"fp_len"`
	// Offset is the byte offset up to which every line was acknowledged.
	Offset int64 `json:"offset"`
	// Seen is when the file was last tracked, in Unix seconds; old entries are forgotten.
	Seen int64 `json:"seen,omitempty"`
}

func newSavedPosition(path string, id fileID, fp uint64, fpLen int, offset int64, seen time.Time) savedPosition {
	return savedPosition{
		Path: path, Device: id.dev, Inode: id.ino, Fingerprint: strconv.FormatUint(fp, 16), FingerprintLength: fpLen,
		Offset: offset, Seen: seen.Unix(),
	}
}

// Valid implements positions.Entry.
func (e savedPosition) Valid() bool {
	_, err := strconv.ParseUint(e.Fingerprint, 16, 64)
	return err == nil && e.Offset >= 0 && e.FingerprintLength >= 0 && e.FingerprintLength <= maxFingerprintLength
}

// fingerprint returns the fingerprint of a Valid entry.
func (e savedPosition) fingerprint() uint64 {
	fp, _ := strconv.ParseUint(e.Fingerprint, 16, 64)
	return fp
}
