package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

const (
	madvPageout = 21 // MADV_PAGEOUT, Linux 5.4+: reclaim now (file pages only if we may write the file)
)

// Release advises the kernel that the read-only mappings of the running executable are not
// needed: MADV_PAGEOUT reclaims them (Linux 5.4+, and for file pages only when the process
// could write the file, e.g. root in a container), then MADV_DONTNEED drops whatever is left
// from this process's page tables (the page cache keeps it, reclaimable). Pages used
// afterwards fault back in.
func Release() (Result, error) {
	var res Result
	res.RSSBefore = rss()
	ranges, err := executableRanges()
	if err != nil {
		return res, err
	}
	for _, r := range ranges {
		// PAGEOUT is best effort: older kernels answer EINVAL, which DONTNEED covers.
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, r.start, r.end-r.start, madvPageout)
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, r.start, r.end-r.start, syscall.MADV_DONTNEED); errno != 0 {
			return res, fmt.Errorf("madvise %#x-%#x: %w", r.start, r.end, errno)
		}
		res.Ranges++
		res.Bytes += uint64(r.end - r.start)
	}
	res.RSSAfter = rss()
	return res, nil
}

type addrRange struct{ start, end uintptr }

// executableRanges lists the mappings of /proc/self/exe (matched by device and inode, so a
// replaced or deleted file on disk does not confuse it) that are neither writable nor
// shared and hold no page of their own.
func executableRanges() ([]addrRange, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return nil, fmt.Errorf("stat /proc/self/exe: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	return parseSmaps(smaps, uint64(st.Dev), st.Ino)
}

// parseSmaps picks from /proc/<pid>/smaps the private, non-writable mappings of the file
// with the given device and inode whose pages are all the file's. A mapping header is
// "start-end perms offset major:minor inode path", followed by "Key: value" lines.
//
// A read-only mapping can still hold pages that differ from the file: a dynamically linked
// (cgo) binary's RELRO segment — the GOT, through which every libc call goes, pthread_create
// for each new thread included — is written by the dynamic loader and only then made
// read-only. Its pages are copies (counted as Anonymous); dropping them would bring back
// the file's unrelocated zeros, and the next call through the GOT would jump to address 0.
// Such mappings are left alone.
func parseSmaps(smaps []byte, dev, ino uint64) ([]addrRange, error) {
	var (
		out     []addrRange
		current *addrRange // the last header that qualified, until its Anonymous line
	)
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Anonymous:"); ok {
			if current != nil && strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")) == "0" {
				out = append(out, *current)
			}
			current = nil
			continue
		}
		f := strings.Fields(line)
		if len(f) < 5 || !strings.Contains(f[0], "-") || strings.HasSuffix(f[0], ":") {
			continue // a "Key: value" line, or something unexpected
		}
		current = nil
		r, ok, err := mappingOf(f, dev, ino)
		if err != nil {
			return nil, err
		}
		if ok {
			current = &r
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no read-only mapping of the executable in /proc/self/smaps")
	}
	return out, nil
}

// mappingOf says whether the smaps/maps header fields f describe a private, non-writable
// mapping of the file with the given device and inode, and its range.
func mappingOf(f []string, dev, ino uint64) (addrRange, bool, error) {
	if len(f) < 6 {
		return addrRange{}, false, nil // anonymous mapping
	}
	perms := f[1]
	if len(perms) != 4 || perms[1] == 'w' || perms[3] != 'p' {
		return addrRange{}, false, nil
	}
	if i, err := strconv.ParseUint(f[4], 10, 64); err != nil || i != ino {
		return addrRange{}, false, nil
	}
	maj, min, ok := strings.Cut(f[3], ":")
	if !ok {
		return addrRange{}, false, nil
	}
	ma, err1 := strconv.ParseUint(maj, 16, 32)
	mi, err2 := strconv.ParseUint(min, 16, 32)
	if err1 != nil || err2 != nil || mkdev(ma, mi) != dev {
		return addrRange{}, false, nil
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return addrRange{}, false, fmt.Errorf("smaps: bad range %q", f[0])
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return addrRange{}, false, fmt.Errorf("smaps: bad range %q", f[0])
	}
	return addrRange{uintptr(start), uintptr(end)}, true, nil
}

// mkdev is the kernel's encoding of a device number as stat returns it (glibc's makedev).
func mkdev(major, minor uint64) uint64 {
	return (major&0xfffff000)<<32 | (major&0xfff)<<8 | (minor&0xffffff00)<<12 | minor&0xff
}

// rss is the resident set size from /proc/self/statm, in bytes; 0 if unreadable.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
