package file

import (
	"errors"
	"hash/fnv"
	"io"
	"os"
)

// fileID identifies a file on this host, whatever its current name.
type fileID struct{ dev, ino uint64 }

// fingerprintSize is how many leading bytes identify a file's content, together with its
// device and inode: an inode freed by a deletion and reused by a new file gets a new
// fingerprint, and so does a file truncated and rewritten with other content. CRI and
// Docker lines start with a nanosecond timestamp, so a few hundred bytes are unique.
const fingerprintSize = 512

// fingerprint hashes the first n bytes of f (FNV-1a, which is stable across releases and
// processes, unlike hash/maphash). buf must hold at least n bytes. It fails with
// io.ErrUnexpectedEOF when f is shorter than n.
func fingerprint(f *os.File, n int, buf []byte) (uint64, error) {
	if n == 0 {
		return fingerprintOf(nil), nil
	}
	got, err := f.ReadAt(buf[:n], 0)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	return fingerprintOf(buf[:n]), nil
}

// fingerprintOf is the fingerprint of content that starts with b.
func fingerprintOf(b []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64()
}
