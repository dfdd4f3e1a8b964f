package file

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// kubelet writes and rotates one container's log the way containerd and the kubelet do
// (pkg/kubelet/logs/container_log_manager.go): at each rotation, leftover .tmp files are
// removed, the oldest rotations beyond maxFiles are deleted, every uncompressed rotation is
// gzipped through <name>.gz.tmp and removed, then 0.log is renamed to
// 0.log.<YYYYMMDD-HHMMSS> and the runtime reopens 0.log, writing a few more lines to the
// old descriptor before it does.
type kubelet struct {
	t        *testing.T
	log      string
	f        *os.File
	clock    time.Time // names rotations; one second per rotation, like the real format
	maxFiles int
	seq      int
}

func newKubelet(t *testing.T, dir string) *kubelet {
	require.NoError(t, os.MkdirAll(dir, 0o755))
	k := &kubelet{t: t, log: filepath.Join(dir, "0.log"), clock: time.Date(2024, 3, 5, 7, 0, 0, 0, time.UTC), maxFiles: 5}
	f, err := os.OpenFile(k.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(t, err)
	k.f = f
	return k
}

// write writes n lines through the runtime's current descriptor and returns their messages.
func (k *kubelet) write(n int) []string {
	var b strings.Builder
	msgs := make([]string, 0, n)
	for range n {
		msg := fmt.Sprintf("line-%07d", k.seq)
		k.seq++
		msgs = append(msgs, msg)
		// Half the lines are split in two CRI fragments, as long lines are.
		ts := time.Now().UTC().Format(time.RFC3339Nano)
		if k.seq%2 == 0 {
			fmt.Fprintf(&b, "%s stdout P %s\n%s stdout F %s\n", ts, msg[:5], ts, msg[5:])
		} else {
			fmt.Fprintf(&b, "%s stdout F %s\n", ts, msg)
		}
	}
	_, err := k.f.WriteString(b.String())
	require.NoError(k.t, err)
	return msgs
}

// rotate rotates; late lines are written to the old file after its rename.
func (k *kubelet) rotate(late int) []string {
	t := k.t
	rotated, err := filepath.Glob(k.log + ".*")
	require.NoError(t, err)
	var kept []string
	for _, r := range rotated {
		if strings.HasSuffix(r, ".tmp") {
			require.NoError(t, os.Remove(r))
			continue
		}
		kept = append(kept, r)
	}
	sort.Strings(kept)
	for len(kept) > k.maxFiles-2 {
		require.NoError(t, os.Remove(kept[0]))
		kept = kept[1:]
	}
	for _, r := range kept {
		if !strings.HasSuffix(r, ".gz") {
			k.compress(r)
		}
	}
	name := k.log + "." + k.clock.Format("20060102-150405")
	k.clock = k.clock.Add(time.Second)
	require.NoError(t, os.Rename(k.log, name))
	msgs := k.write(late) // the runtime has not reopened yet
	require.NoError(t, k.f.Close())
	f, err := os.OpenFile(k.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(t, err)
	k.f = f
	return msgs
}

func (k *kubelet) compress(path string) {
	t := k.t
	in, err := os.Open(path)
	require.NoError(t, err)
	defer in.Close()
	tmp := path + ".gz.tmp"
	out, err := os.Create(tmp)
	require.NoError(t, err)
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, out.Close())
	require.NoError(t, os.Rename(tmp, path+".gz"))
	require.NoError(t, os.Remove(path))
}

func (k *kubelet) close() { _ = k.f.Close() }

// TestKubeletRotation writes thousands of lines per second into two containers' logs while
// rotating them like the kubelet, and checks that every line is delivered exactly once and
// that no descriptor of a deleted file stays open.
func TestKubeletRotation(t *testing.T) {
	for _, tc := range []struct {
		name string
		glob string
	}{
		{"kubelet glob", "*.log"},                                   // rotations found as siblings of 0.log
		{"glob matching rotations, gz and tmp files too", "0.log*"}, // the same files by identity
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			pods := filepath.Join(root, "pods")
			args := testArgs(filepath.Join(pods, "*", "*", tc.glob))
			args.PathLabels = PathLabelsKubernetes
			h := start(t, args, "", nil)

			const (
				containers     = 2
				rotations      = 8
				linesPerPeriod = 1500
				late           = 5
			)
			var want []string
			done := make(chan []string)
			for c := range containers {
				go func() {
					k := newKubelet(t, filepath.Join(pods, fmt.Sprintf("ns_pod-%d_uid-%d", c, c), "app"))
					defer k.close()
					var msgs []string
					tick := time.NewTicker(10 * time.Millisecond)
					defer tick.Stop()
					for r := range rotations {
						for written := 0; written < linesPerPeriod; written += 50 {
							<-tick.C // 50 lines per 10 ms: 5 000 lines per second
							msgs = append(msgs, k.write(50)...)
						}
						if r < rotations-1 {
							msgs = append(msgs, k.rotate(late)...)
						}
					}
					done <- msgs
				}()
			}
			got := map[string][]string{}
			for range containers {
				want = append(want, <-done...)
			}
			require.Len(t, want, containers*(rotations*linesPerPeriod+(rotations-1)*late))
			lines := waitLines(t, h.sink, len(want))
			// Lines are unique across containers only with their pod label.
			for _, e := range h.sink.Entries() {
				got[string(e.Labels["pod"])] = append(got[string(e.Labels["pod"])], e.Line)
			}
			require.Len(t, lines, len(want))
			var all []string
			for pod, ls := range got {
				for _, l := range ls {
					all = append(all, pod+"/"+l)
				}
			}
			var wantAll []string
			for c := range containers {
				for i := range len(want) / containers {
					wantAll = append(wantAll, fmt.Sprintf("pod-%d/line-%07d", c, i))
				}
			}
			requireExactlyOnce(t, wantAll, all)

			// Only the live 0.log and the newest rotation (still uncompressed) stay open.
			require.Eventually(t, func() bool { return openFDs(t, pods) == 2*containers }, 10*time.Second, 10*time.Millisecond,
				"open: %d", openFDs(t, pods))
		})
	}
}
