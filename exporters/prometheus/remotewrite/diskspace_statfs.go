//go:build linux || darwin || freebsd

package remotewrite

import "syscall"

// statfsFree returns the bytes an unprivileged writer can still use on dir's file system.
func statfsFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), true //nolint:unconvert // types differ per OS
}
