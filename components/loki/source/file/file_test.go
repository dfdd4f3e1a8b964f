package file

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sondehq/sonde/pipeline"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		fields []string // field paths of the expected errors; none: valid
	}{
		{name: "minimal", yaml: `{paths: [/var/log/pods/*/*/*.log], forward_to: [loki.write/x]}`},
		{name: "everything", yaml: `
targets: [discovery.relabel/x]
paths: ["/var/log/pods/*/*/*.log"]
labels: {cluster: prod}
format: cri
path_labels: kubernetes
forward_to: [loki.process/x]
start_at: end
max_line_size: 1MiB
partial_flush_timeout: 2s
batch_size: 512KiB
batch_wait: 500ms
poll_interval: 30s
sync_period: 5s
`},
		{name: "nothing to tail", yaml: `{forward_to: [a/b]}`, fields: []string{"paths"}},
		{name: "no forward_to", yaml: `{paths: [/x]}`, fields: []string{"forward_to"}},
		{name: "empty ids", yaml: `{targets: [""], forward_to: [""]}`, fields: []string{"targets", "forward_to"}},
		{name: "bad glob", yaml: `{paths: ["/var/log/[", "", "/a/**/b"], forward_to: [a/b]}`, fields: []string{"paths", "paths", "paths"}},
		{name: "bad label", yaml: `{paths: [/x], forward_to: [a/b], labels: {"a-b": x, __x: y}}`, fields: []string{"labels.__x", "labels.a-b"}},
		{name: "bad enums", yaml: `{paths: [/x], forward_to: [a/b], format: json, path_labels: k8s, start_at: middle}`,
			fields: []string{"format", "path_labels", "start_at"}},
		{name: "bad sizes", yaml: `{paths: [/x], forward_to: [a/b], max_line_size: 0, batch_size: 0}`,
			fields: []string{"max_line_size", "batch_size"}},
		{name: "huge line bound", yaml: `{paths: [/x], forward_to: [a/b], max_line_size: 1GiB}`, fields: []string{"max_line_size"}},
		{name: "bad durations", yaml: `{paths: [/x], forward_to: [a/b], partial_flush_timeout: 0s, batch_wait: 0s, poll_interval: 0s, sync_period: 0s}`,
			fields: []string{"partial_flush_timeout", "batch_wait", "poll_interval", "sync_period"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := pipelinetest.DecodeArgs[*Arguments](t, Registration, tc.yaml).Validate()
			if len(tc.fields) == 0 {
				require.NoError(t, err)
				return
			}
			got := pipelinetest.FieldsOf(err)
			sort.Strings(got)
			want := append([]string(nil), tc.fields...)
			sort.Strings(want)
			require.Equal(t, want, got, err.Error())
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, text := range []string{
		`{paths: [/x], forward_to: [a/b], unknown: 1}`,
		`{paths: [/x], forward_to: [a/b], max_line_size: lots}`,
		`{paths: [/x], forward_to: [a/b], batch_wait: soon}`,
	} {
		args := Registration.Args()
		dec := yaml.NewDecoder(bytes.NewBufferString(text))
		dec.KnownFields(true)
		require.Error(t, dec.Decode(args), text)
	}
}

func TestDefaults(t *testing.T) {
	a := pipelinetest.DecodeArgs[*Arguments](t, Registration, `{paths: [/x], forward_to: [a/b]}`)
	require.Equal(t, "auto", a.Format)
	require.Equal(t, "none", a.PathLabels)
	require.Equal(t, "beginning", a.StartAt)
	require.EqualValues(t, 256<<10, a.MaxLineSize)
	require.EqualValues(t, 1<<20, a.BatchSize)
	require.Equal(t, model.Duration(5*time.Second), a.PartialFlushTimeout)
	require.Equal(t, model.Duration(time.Second), a.BatchWait)
	require.Equal(t, model.Duration(10*time.Second), a.PollInterval)
	require.Equal(t, model.Duration(time.Second), a.SyncPeriod)
	require.Equal(t, []pipeline.Reference{
		{Field: "targets", Kind: pipeline.KindTargets},
		{Field: "forward_to", Kind: pipeline.KindLogs, IDs: []string{"a/b"}},
	}, a.References())
}

func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "a.log"), "a", 0, 10)
	args := testArgs(filepath.Join(dir, "*.log"))
	updated := testArgs(filepath.Join(dir, "*.log"))
	updated.Format = "cri"
	updated.Labels = map[string]string{"env": "test"}
	pipelinetest.Lifecycle(t, Registration, args, updated)
}

// TestPodsTree tails the fixture tree of testdata/logs: the kubelet's layout with CRI and
// Docker files, compressed and temporary rotations, a link from /var/log/containers, and a
// raw file. Every entry, with its labels and timestamp, is compared with a golden file.
func TestPodsTree(t *testing.T) {
	root := t.TempDir()
	copyTree(t, filepath.Join("..", "..", "..", "..", "testdata", "logs"), root)
	args := testArgs(filepath.Join(root, "pods", "*", "*", "*"), filepath.Join(root, "plain", "*.log"))
	args.PathLabels = PathLabelsKubernetes
	args.Labels = map[string]string{"cluster": "test"}
	h := start(t, args, "", nil)
	waitLines(t, h.sink, 11)
	got := render(h.sink.Entries(), root)
	compareGolden(t, filepath.Join("testdata", "pods.golden"), got)

	m := h.c.metrics
	require.Equal(t, 1.0, testutil.ToFloat64(m.malformed.WithLabelValues("cri_timestamp")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.malformed.WithLabelValues("docker_stream")))
	require.Equal(t, 3.0, testutil.ToFloat64(m.filesOpened), "the .gz and .tmp rotations are never opened")
}

func TestSymlinkedFiles(t *testing.T) {
	root := t.TempDir()
	copyTree(t, filepath.Join("..", "..", "..", "..", "testdata", "logs"), root)
	args := testArgs(filepath.Join(root, "containers", "*.log"))
	args.PathLabels = PathLabelsKubernetes
	h := start(t, args, "", nil)
	waitLines(t, h.sink, 6)
	e := h.sink.Entries()[0]
	require.Equal(t, model.LabelValue("nginx"), e.Labels["container"], "labels come from the link's target")
	require.Equal(t, model.LabelValue("default/web-7d9f8c6b5-x2x4z"), e.Labels["job"])

	// Writes to the target are seen through its directory.
	target, err := filepath.EvalSymlinks(filepath.Join(root, "containers", "web-7d9f8c6b5-x2x4z_default_nginx-3f2a1b.log"))
	require.NoError(t, err)
	writeLines(t, target, "more", 0, 3)
	waitLines(t, h.sink, 9)
}

// render writes entries sorted, one JSON object per line, with the temporary root replaced.
func render(es []pipeline.LogEntry, root string) []byte {
	type row struct {
		Labels   string `json:"labels"`
		Time     string `json:"time"`
		Line     string `json:"line"`
		Metadata string `json:"metadata,omitempty"`
	}
	rows := make([]row, 0, len(es))
	for _, e := range es {
		r := row{Labels: strings.ReplaceAll(e.Labels.String(), root, "<root>"), Line: e.Line, Metadata: e.StructuredMetadata.String()}
		if r.Metadata == "{}" {
			r.Metadata = ""
		}
		if _, ok := e.Labels["stream"]; ok {
			r.Time = e.Timestamp.UTC().Format(time.RFC3339Nano)
		} else {
			r.Time = "(read time)"
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Labels != rows[j].Labels {
			return rows[i].Labels < rows[j].Labels
		}
		if rows[i].Time != rows[j].Time {
			return rows[i].Time < rows[j].Time
		}
		return rows[i].Line < rows[j].Line
	})
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		_ = enc.Encode(r)
	}
	return b.Bytes()
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), string(got))
}

func TestTargets(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	writeLines(t, a, "a", 0, 5)
	writeLines(t, b, "b", 0, 5)
	args := testArgs()
	args.Targets = []string{"discovery.relabel/x"}
	args.Labels = map[string]string{"env": "test"}
	h := start(t, args, "", nil)
	require.Empty(t, h.sink.Entries())

	h.host.SetTargets("discovery.relabel/x", pipeline.Targets{
		{"__path__": model.LabelValue(a), "app": "a", "__meta_x": "dropped"},
		{"__path__": model.LabelValue(filepath.Join(dir, "b*.log")), "app": "b", "env": "overridden"},
	})
	waitLines(t, h.sink, 10)
	for _, e := range h.sink.Entries() {
		want := model.LabelValue(e.Line[:1])
		require.Equal(t, want, e.Labels["app"])
		require.Equal(t, model.LabelValue("test"), e.Labels["env"], "static labels win")
		require.Equal(t, model.LabelValue("stdout"), e.Labels["stream"])
		require.NotContains(t, e.Labels, model.LabelName("__meta_x"))
		require.NotContains(t, e.Labels, model.LabelName("__path__"))
	}

	// b leaves the targets: it is drained and closed.
	h.host.SetTargets("discovery.relabel/x", pipeline.Targets{{"__path__": model.LabelValue(a), "app": "a"}})
	require.Eventually(t, func() bool { return openFDs(t, dir) == 1 }, 10*time.Second, 5*time.Millisecond)
	writeLines(t, a, "a", 5, 6)
	writeLines(t, b, "b", 5, 6)
	got := waitLines(t, h.sink, 11)
	requireExactlyOnce(t, append(expectLines("a", 0, 6), expectLines("b", 0, 5)...), got)
}

func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	writeLines(t, path, "a", 0, 1)
	h := start(t, testArgs(filepath.Join(dir, "*.log")), "", nil)
	waitLines(t, h.sink, 1)

	args := testArgs(filepath.Join(dir, "*.log"))
	args.Labels = map[string]string{"env": "new"}
	require.NoError(t, h.c.Update(args))
	require.Error(t, Registration.Update(h.c, &Arguments{}), "invalid arguments are refused (by the registration, before Update)")
	// The new labels apply once Run has reconciled; lines written after that carry them.
	require.Eventually(t, func() bool {
		h.c.manager.mu.Lock()
		defer h.c.manager.mu.Unlock()
		for _, tr := range h.c.manager.byID {
			return tr.labels.Load().byStream[0]["env"] == "new"
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	writeLines(t, path, "a", 1, 2)
	waitLines(t, h.sink, 2)
	require.Equal(t, model.LabelValue("new"), h.sink.Entries()[1].Labels["env"])
}

// TestDanglingPartial: a P line that never gets its F (the container died mid-line) is sent
// after partial_flush_timeout, and the position moves past it.
func TestDanglingPartial(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	appendFile(t, path, "2024-03-05T07:08:09Z stdout F before\n2024-03-05T07:08:10Z stderr P dangling \n")
	args := testArgs(path)
	args.PartialFlushTimeout = model.Duration(100 * time.Millisecond)
	h := start(t, args, "", nil)
	require.Equal(t, []string{"before", "dangling "}, waitLines(t, h.sink, 2))
	require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.partialFlushes.WithLabelValues("timeout")))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readPositions(t, h.opts.DataPath)[path] == fi.Size() },
		10*time.Second, 5*time.Millisecond)
}

func TestStartAtEnd(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.log")
	writeLines(t, old, "old", 0, 100)
	appendFile(t, old, "2024-03-05T07:08:09Z stdout F half a li") // being written right now
	args := testArgs(filepath.Join(dir, "*.log"))
	args.StartAt = StartAtEnd
	h := start(t, args, "", nil)

	appendFile(t, old, "ne\n")
	writeLines(t, old, "old", 100, 102)
	newer := filepath.Join(dir, "new.log") // appears later: read from its beginning
	writeLines(t, newer, "new", 0, 3)
	got := waitLines(t, h.sink, 6)
	requireExactlyOnce(t, append(append([]string{"half a line"}, expectLines("old", 100, 102)...), expectLines("new", 0, 3)...), got)
}

// TestOpenError: a file that cannot be opened is counted every time and logged once; the
// component stays healthy. (Tests run as root here, where permissions do not stop reads,
// so the error is handed in directly.)
func TestOpenError(t *testing.T) {
	dir := t.TempDir()
	h := start(t, testArgs(filepath.Join(dir, "*.log")), "", nil)
	perm := &fs.PathError{Op: "open", Path: "/x/secret.log", Err: syscall.EACCES}
	h.c.openError("/x/secret.log", perm)
	h.c.openError("/x/secret.log", perm)
	h.c.openError("/x/gone.log", &fs.PathError{Op: "open", Path: "/x/gone.log", Err: syscall.ENOENT})
	require.Equal(t, 2.0, testutil.ToFloat64(h.c.metrics.fileErrors.WithLabelValues("permission")))
	require.Contains(t, h.c.warned, "/x/secret.log")
	require.NotContains(t, h.c.warned, "/x/gone.log", "a file deleted meanwhile is no error")
	require.Equal(t, pipeline.HealthHealthy, h.opts.Health.Get().State)
}

// TestUnreadableFile runs with real permissions when the tests do not run as root.
func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.log")
	writeLines(t, secret, "secret", 0, 1)
	require.NoError(t, os.Chmod(secret, 0))
	writeLines(t, filepath.Join(dir, "ok.log"), "ok", 0, 1)
	h := start(t, testArgs(filepath.Join(dir, "*.log")), "", nil)
	if os.Geteuid() == 0 {
		waitLines(t, h.sink, 2) // root reads everything
		return
	}
	require.Equal(t, []string{"ok-000000"}, waitLines(t, h.sink, 1))
	require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.fileErrors.WithLabelValues("permission")))
	require.Equal(t, pipeline.HealthHealthy, h.opts.Health.Get().State)
}

func TestCorruptPositions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	writeLines(t, path, "a", 0, 5)
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, positionsFile), []byte("{\"version\":1}\n{\"dev\":1,\"in"), 0o644))
	args := testArgs(path)
	args.StartAt = StartAtEnd // ignored: the positions are damaged, so nothing may be skipped
	h := start(t, args, data, nil)
	requireExactlyOnce(t, expectLines("a", 0, 5), waitLines(t, h.sink, 5))
	require.Equal(t, 1.0, testutil.ToFloat64(h.c.metrics.positionsBad))
	require.Eventually(t, func() bool { return readPositions(t, data)[path] > 0 }, 10*time.Second, 5*time.Millisecond)
}
