package nodetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/exporters/loki/write/lokitest"
)

func TestCheckLogs(t *testing.T) {
	labels := func(stream string, extra ...string) map[string]string {
		l := map[string]string{"namespace": "shop", "pod": "demo-1", "container": "demo", "stream": stream, "job": "shop/demo-1", "app": "demo"}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	lines := func(stream string, seqs ...int) []lokitest.Entry {
		var out []lokitest.Entry
		for _, s := range seqs {
			out = append(out, lokitest.Entry{Line: fmt.Sprintf("stream=%s seq=%06d", stream, s)})
		}
		return out
	}
	final := lokitest.Entry{Line: "final total_stdout=3 total_stderr=1"}
	cases := []struct {
		name    string
		streams []lokitest.Stream
		dups    int
		want    []string // substrings of the problems; none when empty
	}{
		{"complete", []lokitest.Stream{
			{Labels: labels("stdout"), Entries: append(lines("stdout", 1, 2, 3), final)},
			{Labels: labels("stderr"), Entries: lines("stderr", 1)},
		}, 0, nil},
		{"a gap, reported as a range", []lokitest.Stream{
			{Labels: labels("stdout"), Entries: append(lines("stdout", 1), final)},
			{Labels: labels("stderr"), Entries: lines("stderr", 1)},
		}, 0, []string{"2 lines missing", "stdout seq 2-3 missing"}},
		{"the written totals count, not the highest line seen", []lokitest.Stream{
			{Labels: labels("stdout"), Entries: append(lines("stdout", 1, 2, 3), final)},
		}, 0, []string{"1 lines missing", "stderr seq 1-1 missing"}},
		{"duplicates within the allowance", []lokitest.Stream{
			{Labels: labels("stdout"), Entries: append(lines("stdout", 1, 2, 2, 3), final)},
			{Labels: labels("stderr"), Entries: lines("stderr", 1)},
		}, 1, nil},
		{"duplicates beyond it", []lokitest.Stream{
			{Labels: labels("stdout"), Entries: append(lines("stdout", 1, 2, 2, 3), final)},
			{Labels: labels("stderr"), Entries: lines("stderr", 1)},
		}, 0, []string{"1 lines duplicated"}},
		{"first lines without pod labels: a second stream", []lokitest.Stream{
			{Labels: labels("stdout", "app", ""), Entries: lines("stdout", 1)},
			{Labels: labels("stdout"), Entries: append(lines("stdout", 2, 3), final)},
			{Labels: labels("stderr"), Entries: lines("stderr", 1)},
		}, 0, []string{"1 lines without", "stdout split across 2 Loki streams"}},
		{"nothing", nil, 0, []string{"no numbered lines"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			probs := CheckLogs(tc.streams, "demo-1", "demo").Problems(tc.dups)
			if len(tc.want) == 0 {
				require.Empty(t, probs)
				return
			}
			joined := fmt.Sprint(probs)
			for _, w := range tc.want {
				require.Contains(t, joined, w)
			}
		})
	}
}
