//go:build unix

package file

import (
	"io/fs"
	"syscall"
	"time"
)

// identify returns the device and inode of a file and its number of links (0 once deleted).
func identify(fi fs.FileInfo) (id fileID, nlink uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, 0, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, uint64(st.Nlink), true //nolint:unconvert // types differ per OS
}

// changeTime returns when the file's inode last changed (a rename, as a rotation, or a
// write), or the zero time when it is not known.
func changeTime(fi fs.FileInfo) time.Time {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}
	}
	return time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)) //nolint:unconvert // types differ per OS
}
