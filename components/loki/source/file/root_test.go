package file

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// TestRootAppearsAfterStart: the glob's root does not exist at start-up; once it is made,
// its files are found at once (the directory above it is watched), not at the next poll.
func TestRootAppearsAfterStart(t *testing.T) {
	for _, depth := range []string{"logs", filepath.Join("var", "log", "pods")} {
		t.Run(depth, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), depth)
			args := testArgs(filepath.Join(root, "*", "*.log"))
			args.PollInterval = model.Duration(time.Hour)
			h := start(t, args, "", nil)

			require.NoError(t, os.MkdirAll(filepath.Join(root, "app"), 0o755))
			writeLines(t, filepath.Join(root, "app", "0.log"), "a", 0, 10)
			began := time.Now()
			require.Eventually(t, func() bool { return len(h.sink.Entries()) == 10 }, 5*time.Second, 5*time.Millisecond,
				"found without waiting for the poll")
			t.Logf("found %v after the root was made", time.Since(began).Round(time.Millisecond))
			requireExactlyOnce(t, expectLines("a", 0, 10), lineSet(h.sink.Entries()))
		})
	}
}

// TestRootAppearsAfterStartPolling: without fsnotify, a missing root is looked for every
// rootPollInterval rather than every poll_interval.
func TestRootAppearsAfterStartPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "logs")
		args := testArgs(filepath.Join(root, "*.log"))
		args.PollInterval = model.Duration(DefaultPollInterval)
		h := startWith(t, args, "", nil, nil, func(c *Component) { c.pollOnly = true })
		settle(time.Second)

		require.NoError(t, os.MkdirAll(root, 0o755))
		writeLines(t, filepath.Join(root, "0.log"), "a", 0, 10)
		settle(rootPollInterval + 100*time.Millisecond) // a look, a read, a batch_wait
		requireExactlyOnce(t, expectLines("a", 0, 10), lineSet(h.sink.Entries()))
		require.Empty(t, h.c.missingRoots)
	})
}
