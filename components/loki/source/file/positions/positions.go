// Package positions reads and writes the positions file of loki.source.file: for each file
// identity (device, inode and a fingerprint of its first bytes), the offset up to which its
// lines have been acknowledged downstream.
//
// The file is JSON lines: a header {"version":1}, then one entry per line. One object per
// line rather than one document so that a damaged file still yields every intact entry: a
// line that does not parse is skipped and counted, never fatal. Save writes a temporary
// file, fsyncs it, renames it over the old one and fsyncs the directory, so a crash leaves
// either the old or the new file, whole.
package positions

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Version is the format version written in the header.
const Version = 1

// MaxFingerprintLength bounds Entry.FingerprintLength.
const MaxFingerprintLength = 1 << 20

// Entry is the position of one file.
type Entry struct {
	// Path is where the file was last seen; informational (identity is Device+Inode+fingerprint).
	Path   string
	Device uint64
	Inode  uint64
	// Fingerprint is a hash of the file's first FingerprintLength bytes (see the tailer).
	Fingerprint       uint64
	FingerprintLength int
	// Offset is the byte offset up to which every line was acknowledged.
	Offset int64
	// Seen is when the file was last tracked, in Unix seconds; old entries are forgotten.
	Seen int64
}

// line is an Entry as written; the fingerprint is hex so the file reads well.
type line struct {
	Version *int   `json:"version,omitempty"`
	Path    string `json:"path,omitempty"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	FP      string `json:"fp"`
	FPLen   int    `json:"fp_len"`
	Offset  int64  `json:"offset"`
	Seen    int64  `json:"seen,omitempty"`
}

// ErrVersion is returned by Parse for a file written by a newer, incompatible version.
var ErrVersion = errors.New("unsupported positions file version")

// Parse reads a positions file. Lines that do not parse, or that hold an impossible entry,
// are skipped and counted in bad. The only error is ErrVersion (wrapped).
func Parse(data []byte) (entries []Entry, bad int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var l line
		if json.Unmarshal(b, &l) != nil {
			bad++
			continue
		}
		if l.Version != nil {
			if *l.Version != Version {
				return nil, bad, fmt.Errorf("%w %d (this build reads %d)", ErrVersion, *l.Version, Version)
			}
			continue
		}
		fp, perr := strconv.ParseUint(l.FP, 16, 64)
		if perr != nil || l.Offset < 0 || l.FPLen < 0 || l.FPLen > MaxFingerprintLength {
			bad++
			continue
		}
		entries = append(entries, Entry{
			Path: l.Path, Device: l.Dev, Inode: l.Ino, Fingerprint: fp, FingerprintLength: l.FPLen,
			Offset: l.Offset, Seen: l.Seen,
		})
	}
	if sc.Err() != nil {
		// A line over 1 MiB: a damaged file. What was read before it stands.
		bad++
	}
	return entries, bad, nil
}

// Encode returns the file contents for entries.
func Encode(entries []Entry) []byte {
	var b bytes.Buffer
	v := Version
	writeLine(&b, line{Version: &v})
	for _, e := range entries {
		writeLine(&b, line{
			Path: e.Path, Dev: e.Device, Ino: e.Inode, FP: strconv.FormatUint(e.Fingerprint, 16),
			FPLen: e.FingerprintLength, Offset: e.Offset, Seen: e.Seen,
		})
	}
	return b.Bytes()
}

func writeLine(b *bytes.Buffer, l line) {
	if l.Version != nil {
		fmt.Fprintf(b, "{\"version\":%d}\n", *l.Version)
		return
	}
	out, _ := json.Marshal(l) // a struct of strings and integers always marshals
	b.Write(out)
	b.WriteByte('\n')
}

// Load reads and parses the file at path. A missing file is no entries and no error.
func Load(path string) (entries []Entry, bad int, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return Parse(data)
}

// RemoveStale removes temporary files that a Save interrupted by a crash left next to path.
func RemoveStale(path string) {
	stale, _ := filepath.Glob(path + ".tmp-*")
	for _, f := range stale {
		_ = os.Remove(f)
	}
}

// Save writes entries to path atomically: a temporary file in the same directory, fsync,
// rename over path, fsync of the directory.
func Save(path string, entries []Entry) error {
	dir := filepath.Dir(path)
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
