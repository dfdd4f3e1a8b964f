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
	h := fnv.New64a()
	if n == 0 {
		return h.Sum64(), nil
	}
	got, err := f.ReadAt(buf[:n], 0)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	_, _ = h.Write(buf[:n])
	return h.Sum64(), nil
}
