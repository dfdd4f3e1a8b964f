package procmem

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// smapsEntry is one mapping as /proc/<pid>/smaps shows it, with anon kB of its own pages.
func smapsEntry(header string, anon int) string {
	return header + "\nSize:               4 kB\nRss:                4 kB\nAnonymous:          " +
		strconv.Itoa(anon) + " kB\nVmFlags: rd mr mw me\n"
}

func TestParseSmaps(t *testing.T) {
	smaps := smapsEntry("00400000-00411000 r--p 00000000 fe:00 10002433                           /usr/bin/sonde", 0) +
		smapsEntry("00411000-0239a000 r-xp 00011000 fe:00 10002433                           /usr/bin/sonde", 0) +
		smapsEntry("0239a000-0485b000 r--p 01f9a000 fe:00 10002433                           /usr/bin/sonde", 0) +
		// RELRO of a cgo binary: the GOT, relocated by the dynamic loader, then made read-only.
		smapsEntry("04867000-04868000 r--p 04466000 fe:00 10002433                           /usr/bin/sonde", 4) +
		smapsEntry("04868000-04928000 rw-p 04467000 fe:00 10002433                           /usr/bin/sonde", 224) +
		smapsEntry("0491c000-0697d000 rw-p 00000000 00:00 0 ", 1024) +
		smapsEntry("7f59367c0000-7f5936800000 r--s 00000000 fe:00 10002433                   /usr/bin/sonde", 0) +
		smapsEntry("7f597d2e8000-7f597d43e000 r-xp 00028000 fe:00 777                        /usr/lib/x86_64-linux-gnu/libc.so.6", 0) +
		smapsEntry("7f597d43e000-7f597d491000 r--p 00000000 08:01 10002433                   /other/device/same/inode", 0) +
		smapsEntry("7ffd1c5e0000-7ffd1c601000 rw-p 00000000 00:00 0                          [stack]", 132)
	got, err := parseSmaps([]byte(smaps), mkdev(0xfe, 0), 10002433)
	require.NoError(t, err)
	require.Equal(t, []addrRange{
		{0x00400000, 0x00411000},
		{0x00411000, 0x0239a000},
		{0x0239a000, 0x0485b000},
	}, got, "read-only private mappings of that file holding only its pages: not RELRO, data, shared, another device")

	_, err = parseSmaps([]byte(smaps), mkdev(0xfe, 0), 42)
	require.ErrorContains(t, err, "no read-only mapping")
	_, err = parseSmaps([]byte(smapsEntry("zz-yy r--p 0 fe:00 42 /x", 0)), mkdev(0xfe, 0), 42)
	require.ErrorContains(t, err, "bad range")
}

func TestMkdevMatchesStat(t *testing.T) {
	// The test binary's own mappings must be found: mkdev agrees with what stat reports.
	ranges, err := executableRanges()
	require.NoError(t, err)
	require.NotEmpty(t, ranges)
}

// rssFile is RssFile from /proc/self/status in kB.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestReleaseDropsExecutablePages(t *testing.T) {
	before := rssFile(t)
	res, err := Release()
	require.NoError(t, err)
	after := rssFile(t)
	t.Logf("advised %d ranges, %d bytes; RssFile %d kB -> %d kB; RSS %d -> %d bytes",
		res.Ranges, res.Bytes, before, after, res.RSSBefore, res.RSSAfter)
	require.GreaterOrEqual(t, res.Ranges, 2, "text and read-only data at least")
	require.Less(t, after, before, "file-backed resident memory goes down")
	// The process keeps running code from the released pages (this test does): they fault back in.
	_, err = Release()
	require.NoError(t, err, "releasing twice is fine")
}

// TestReleaseKeepsDynamicLinking runs a cgo binary that releases its pages and then calls
// libc and creates threads: with the RELRO segment (the GOT) released it would jump to
// address 0 (as sonde did under load before parseSmaps looked at Anonymous).
func TestReleaseKeepsDynamicLinking(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cgocheck")
	build := exec.Command("go", "build", "-o", bin, "./testdata/cgocheck")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the cgo check (needs a C compiler, as sonde's own build does): %s", out)
	file, err := exec.Command("file", bin).Output()
	if err == nil {
		require.Contains(t, string(file), "dynamically linked", "the check must run a dynamically linked binary")
	}
	out, err = exec.Command(bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.True(t, strings.HasPrefix(string(out), "ok "), "%s", out)
}
