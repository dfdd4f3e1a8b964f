// Package positions reads and writes the positions files of the log sources
// (loki.source.file, loki.source.kubernetes): for each stream the source follows, how far
// its lines have been acknowledged downstream. Each source defines its entry (a file's
// device, inode, fingerprint and offset; a container's pod uid, name and log cursor); the
// file format is the same for both.
//
// The file is JSON lines: a header {"version":1}, then one entry per line. One object per
// line rather than one document so that a damaged file still yields every intact entry: a
// line that does not parse, or holds an entry that is not Valid, is skipped and counted,
// never fatal. Save writes a temporary file, fsyncs it, renames it over the old one and
// fsyncs the directory, so a crash leaves either the old or the new file, whole.
package positions

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Version is the format version written in the header.
const Version = 1

// ErrVersion is returned by Parse for a file written by a newer, incompatible version.
var ErrVersion = errors.New("unsupported positions file version")

// Entry is one stream's position as a source writes it: a struct with json tags.
type Entry interface {
	// Valid reports whether the entry read back is possible; one that is not is skipped
	// and counted as bad.
	Valid() bool
}

// header is the first line; an entry line has no "version" key.
type header struct {
	Version *int `json:"version"`
}

var versionKey = []byte(`"version"`)

// Parse reads a positions file. Lines that do not parse, or that hold an entry that is not
// Valid, are skipped and counted in bad. The only error is ErrVersion (wrapped).
func Parse[E Entry](data []byte) (entries []E, bad int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if bytes.Contains(b, versionKey) {
			var h header
			if json.Unmarshal(b, &h) == nil && h.Version != nil {
				if *h.Version != Version {
					return nil, bad, fmt.Errorf("%w %d (this build reads %d)", ErrVersion, *h.Version, Version)
				}
				continue
			}
		}
		var e E
		if json.Unmarshal(b, &e) != nil || !e.Valid() {
			bad++
			continue
		}
		entries = append(entries, e)
	}
	if sc.Err() != nil {
		// A line over 1 MiB: a damaged file. What was read before it stands.
		bad++
	}
	return entries, bad, nil
}

// Encode returns the file contents for entries.
func Encode[E Entry](entries []E) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"version\":%d}\n", Version)
	for _, e := range entries {
		out, err := json.Marshal(e)
		if err != nil {
			panic(fmt.Sprintf("positions: entry %T does not marshal: %v", e, err)) // a programming error
		}
		b.Write(out)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Read returns the contents of the file at path; a missing file is nil and no error.
func Read(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// Load reads and parses the file at path. A missing file is no entries and no error.
func Load[E Entry](path string) (entries []E, bad int, err error) {
	data, err := Read(path)
	if err != nil {
		return nil, 0, err
	}
	return Parse[E](data)
}

// RemoveStale removes temporary files that a Save interrupted by a crash left next to path.
func RemoveStale(path string) {
	stale, _ := filepath.Glob(path + ".tmp*")
	for _, f := range stale {
		_ = os.Remove(f)
	}
}

// Save writes entries to path atomically: a temporary file in the same directory (created
// if needed), fsync, rename over path, fsync of the directory.
func Save[E Entry](path string, entries []E) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // a no-op once renamed
	if _, err := tmp.Write(Encode(entries)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmpName, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
