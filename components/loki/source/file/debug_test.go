package file

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// TestDebugInfo tails one file into the states the UI must show — delivered, behind on
// acknowledgements, rotated away, deleted while open — and checks what DebugInfo says,
// while another goroutine calls DebugInfo all along (as the HTTP handlers do; run with
// -race).
func TestDebugInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		// act changes the file once its first lines are acknowledged; it returns the
		// offset acknowledged in the end.
		act   func(t *testing.T, h *harness, path string) (acked int64)
		state string
	}{
		{
			name:  "live, everything acknowledged",
			act:   func(t *testing.T, _ *harness, path string) int64 { return fileSize(t, path) },
			state: FileLive,
		},
		{
			name: "live, acknowledgements held: lag",
			act: func(t *testing.T, h *harness, path string) int64 {
				acked := fileSize(t, path)
				h.sink.Hold(true)
				writeLines(t, path, "a", 10, 30)
				waitLines(t, h.sink, 30)
				return acked
			},
			state: FileLive,
		},
		{
			name: "rotated, draining",
			act: func(t *testing.T, _ *harness, path string) int64 {
				require.NoError(t, os.Rename(path, path+".1"))
				return fileSize(t, path+".1")
			},
			state: FileRotatedDraining,
		},
		{
			name: "deleted, draining",
			act: func(t *testing.T, _ *harness, path string) int64 {
				// An open descriptor keeps the deleted file, as a runtime's does.
				f, err := os.Open(path)
				require.NoError(t, err)
				t.Cleanup(func() { _ = f.Close() })
				size := fileSize(t, path)
				require.NoError(t, os.Remove(path))
				return size
			},
			state: FileDeletedDraining,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.log")
			writeLines(t, path, "a", 0, 10)
			args := testArgs(filepath.Join(dir, "*.log"))
			// A drained file that no glob matches is kept for a poll interval: long
			// enough here to see it draining.
			args.PollInterval = model.Duration(time.Hour)
			before := time.Now()
			h := start(t, args, "", nil)
			stop := pipelinetest.HammerDebugInfo(h.c)
			defer stop()

			waitLines(t, h.sink, 10)
			require.Eventually(t, func() bool { return onlyFile(t, h.c).AckedOffset == fileSize(t, path) },
				10*time.Second, time.Millisecond, "the first lines are acknowledged")
			acked := tc.act(t, h, path)

			var got FileDebugInfo
			require.Eventually(t, func() bool {
				got = onlyFile(t, h.c)
				return got.State == tc.state && got.ReadOffset == got.SizeBytes && got.AckedOffset == acked
			}, 10*time.Second, time.Millisecond, "last seen: %+v", got)
			require.Equal(t, path, got.Path)
			require.Equal(t, "cri", got.Format)
			require.Equal(t, got.SizeBytes-acked, got.LagBytes)
			require.NotNil(t, got.LastRead)
			require.False(t, got.LastRead.Before(before), "last read %v, started %v", got.LastRead, before)
			require.NotZero(t, got.Inode)

			info := h.c.DebugInfo().(DebugInfo)
			want := FileTotals{
				Files: 1, SizeBytes: got.SizeBytes, LagBytes: got.LagBytes, Positions: 1,
				Live: b2i(tc.state == FileLive), RotatedDraining: b2i(tc.state == FileRotatedDraining),
				DeletedDraining: b2i(tc.state == FileDeletedDraining),
			}
			require.Equal(t, want, info.Totals)
		})
	}
}

// TestDebugInfoJSON checks the names the UI and the API documentation use, and that a
// component that is not running reports no files.
func TestDebugInfoJSON(t *testing.T) {
	c, err := New(pipelinetest.Options(t, "loki.source.file/test", pipelinetest.NewHost()), testArgs(filepath.Join(t.TempDir(), "*.log")))
	require.NoError(t, err)
	b, err := json.Marshal(c.DebugInfo())
	require.NoError(t, err)
	require.JSONEq(t, `{"totals": {"files": 0, "live": 0, "rotated_draining": 0, "deleted_draining": 0,
		"omitted": 0, "size_bytes": 0, "unread_bytes": 0, "lag_bytes": 0, "positions": 0}, "files": []}`, string(b))

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err = json.Marshal(FileDebugInfo{Path: "/a.log", State: FileLive, Format: "cri", SizeBytes: 10,
		ReadOffset: 10, AckedOffset: 4, LagBytes: 6, LastRead: &at, Device: 1, Inode: 2})
	require.NoError(t, err)
	require.JSONEq(t, `{"path": "/a.log", "state": "live", "format": "cri", "size_bytes": 10, "read_offset": 10,
		"acked_offset": 4, "lag_bytes": 6, "last_read": "2026-01-02T03:04:05Z", "device": 1, "inode": 2}`, string(b))
}

// TestBoundFiles: beyond the limit, the files with the most lag are listed, by path.
func TestBoundFiles(t *testing.T) {
	files := func(lags ...int64) []FileDebugInfo {
		var out []FileDebugInfo
		for i, l := range lags {
			out = append(out, FileDebugInfo{Path: fmt.Sprintf("/f%d", i), LagBytes: l})
		}
		return out
	}
	paths := func(fs []FileDebugInfo) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Path)
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		in          []FileDebugInfo
		limit       int
		want        []string
		wantOmitted int
	}{
		{"under the limit", files(1, 5, 3), 5, []string{"/f0", "/f1", "/f2"}, 0},
		{"at the limit", files(1, 5, 3), 3, []string{"/f0", "/f1", "/f2"}, 0},
		{"over: most lag kept", files(1, 5, 3, 0, 9), 3, []string{"/f1", "/f2", "/f4"}, 2},
		{"ties by path", files(0, 0, 0, 0), 2, []string{"/f0", "/f1"}, 2},
		{"none", nil, 3, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, omitted := boundFiles(tc.in, tc.limit)
			require.Equal(t, tc.want, paths(got))
			require.Equal(t, tc.wantOmitted, omitted)
			require.True(t, sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Path < got[j].Path }))
		})
	}
}

// onlyFile returns the one file DebugInfo lists, or an empty one.
func onlyFile(t *testing.T, c *Component) FileDebugInfo {
	t.Helper()
	info := c.DebugInfo().(DebugInfo)
	if len(info.Files) != 1 {
		return FileDebugInfo{}
	}
	return info.Files[0]
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
