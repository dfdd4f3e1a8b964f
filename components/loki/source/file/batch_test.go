package file

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/units"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestLineLargerThanBatchSize: a line larger than batch_size is sent whole, alone, and
// counted; nothing is dropped or cut.
func TestLineLargerThanBatchSize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	args := testArgs(path)
	args.BatchSize = units.KiB
	big := strings.Repeat("x", 4<<10)
	appendFile(t, path, criLine("small-1")+criLine(big)+criLine("small-2"))
	h := start(t, args, "", nil)
	got := waitLines(t, h.sink, 3)
	require.Equal(t, []string{"small-1", big, "small-2"}, got)
	require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.oversized))
	require.Equal(t, 3.0, testutil.ToFloat64(h.c.metrics.batchesSent), "the large line goes in a batch of its own")
}
