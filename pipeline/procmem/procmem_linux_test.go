package procmem

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMaps(t *testing.T) {
	maps := `00400000-00411000 r--p 00000000 fe:00 10002433                           /usr/bin/sonde
00411000-0239a000 r-xp 00011000 fe:00 10002433                           /usr/bin/sonde
0239a000-0485b000 r--p 01f9a000 fe:00 10002433                           /usr/bin/sonde
0485b000-0491c000 rw-p 0445b000 fe:00 10002433                           /usr/bin/sonde
0491c000-0697d000 rw-p 00000000 00:00 0 
7f59367c0000-7f5936800000 r--s 00000000 fe:00 10002433                   /usr/bin/sonde
7f597d2e8000-7f597d43e000 r-xp 00028000 fe:00 777                        /usr/lib/x86_64-linux-gnu/libc.so.6
7f597d43e000-7f597d491000 r--p 00000000 08:01 10002433                   /other/device/same/inode
7ffd1c5e0000-7ffd1c601000 rw-p 00000000 00:00 0                          [stack]
`
	got, err := parseMaps([]byte(maps), mkdev(0xfe, 0), 10002433)
	require.NoError(t, err)
	require.Equal(t, []addrRange{
		{0x00400000, 0x00411000},
		{0x00411000, 0x0239a000},
		{0x0239a000, 0x0485b000},
	}, got, "read-only private mappings of that file only: not data, not shared, not another device")

	_, err = parseMaps([]byte(maps), mkdev(0xfe, 0), 42)
	require.ErrorContains(t, err, "no read-only mapping")
	_, err = parseMaps([]byte("zz-yy r--p 0 fe:00 42 /x\n"), mkdev(0xfe, 0), 42)
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
