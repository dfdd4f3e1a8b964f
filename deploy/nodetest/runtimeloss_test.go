package nodetest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
)

func TestPipeFailures(t *testing.T) {
	const id = "6f5eb561b1d467161da8239f18c428d889ef2c13e65b3464a6a0a22ec8aac235"
	log := `time="2026-12-07T09:38:50.821923703Z" level=info msg="StartContainer for \"` + id + `\" returns successfully"
time="2026-12-07T09:38:51.105247966Z" level=error msg="Failed to pipe stdout of container \"` + id + `\"" error="read /proc/self/fd/122: file already closed"
`
	got := PipeFailures(strings.NewReader(log))
	require.Equal(t, map[string][]string{id: {"stdout"}}, got)
	require.Empty(t, PipeFailures(strings.NewReader(`level=info msg="StartContainer for \"`+id+`\""`)))
}

func TestKeptByRuntime(t *testing.T) {
	line := func(stream, tag, content string) string {
		return "2026-12-07T09:38:51.1Z " + stream + " " + tag + " " + content + "\n"
	}
	cut := line("stdout", "F", "stream=stdout seq=000001 a") +
		line("stderr", "F", "stream=stderr seq=000001 b") +
		line("stdout", "P", "stream=stdout seq=000002 first half") + line("stdout", "F", " second half") +
		line("stdout", "P", "stream=stdout seq=000003 cut by the runtime, never ended")
	kept, final := KeptByRuntime(strings.NewReader(cut))
	require.False(t, final)
	require.Equal(t, map[string]int{"stdout": 2, "stderr": 1}, kept, "a line cut and never ended does not count")

	whole := cut + line("stdout", "F", " ended after all") + line("stdout", "F", "final total_stdout=3 total_stderr=1")
	kept, final = KeptByRuntime(strings.NewReader(whole))
	require.True(t, final)
	require.Equal(t, map[string]int{"stdout": 3, "stderr": 1}, kept)
}

func TestCheckLogsUpTo(t *testing.T) {
	labels := func(stream string) map[string]string {
		return map[string]string{"namespace": "shop", "pod": "b", "container": "burst", "stream": stream, "job": "shop/b", "app": "burst"}
	}
	streams := []lokitest.Stream{
		{Labels: labels("stdout"), Entries: []lokitest.Entry{{Line: "stream=stdout seq=000001"}, {Line: "stream=stdout seq=000003"}}},
		{Labels: labels("stderr"), Entries: []lokitest.Entry{{Line: "stream=stderr seq=000001"}}},
	}
	r := CheckLogsUpTo(streams, "b", "burst", map[string]int{"stdout": 3, "stderr": 2})
	require.Equal(t, 2, r.Missing, "stdout 2 and stderr 2, which the file holds")
	require.Empty(t, CheckLogsUpTo(streams[:1], "b", "burst", map[string]int{"stdout": 1}).ProblemsAllowing(0, 0))
}
