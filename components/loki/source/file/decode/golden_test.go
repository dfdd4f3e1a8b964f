package decode

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCase decodes an input file (from testdata/<name>.log, or generated) and compares
// the entries and counters with testdata/<name>.golden.
type goldenCase struct {
	name   string
	format Format
	max    int
	input  func(t *testing.T) []byte // nil: testdata/<name>.log
	check  func(t *testing.T, out []Entry)
}

func TestGolden(t *testing.T) {
	cases := []goldenCase{
		{name: "cri_basic", format: FormatCRI},
		{name: "cri_interleaved", format: FormatCRI, check: func(t *testing.T, out []Entry) {
			require.Equal(t, []string{"err-1 err-2", "out-1 out-2 out-3", "whole stderr line", "a", "whole stdout line"}, lines(out))
		}},
		{name: "cri_dangling", format: FormatCRI, check: func(t *testing.T, out []Entry) {
			require.Len(t, out, 3)
			require.True(t, out[2].Incomplete, "the dangling P is flushed when the file ends")
			require.Equal(t, "the container died in the middle of this line and never wrote the end", out[2].Line)
		}},
		{name: "cri_malformed", format: FormatCRI, check: func(t *testing.T, out []Entry) {
			require.Equal(t, []string{"good 1", "good 2"}, lines(out))
		}},
		{
			// 10 000 P fragments then an empty F, twice: exactly two lines.
			name: "cri_10000_fragments", format: FormatCRI,
			input: func(*testing.T) []byte {
				var b bytes.Buffer
				for round := range 2 {
					for i := range 10000 {
						fmt.Fprintf(&b, "2024-03-05T07:08:%02d.%09dZ stdout P %c\n", round, i, 'a'+rune(round))
					}
					fmt.Fprintf(&b, "2024-03-05T07:08:%02d.999999999Z stdout F \n", round)
				}
				return b.Bytes()
			},
			check: func(t *testing.T, out []Entry) {
				require.Len(t, out, 2)
				require.Equal(t, strings.Repeat("a", 10000), out[0].Line)
				require.Equal(t, strings.Repeat("b", 10000), out[1].Line)
				require.Equal(t, time.Date(2024, 3, 5, 7, 8, 0, 0, time.UTC), out[0].Time, "a joined line has its first fragment's time")
			},
		},
		{
			// The same with fragments of 16 KiB against the default 256 KiB bound: cut.
			name: "cri_bound", format: FormatCRI, max: 256 << 10,
			input: func(*testing.T) []byte {
				var b bytes.Buffer
				frag := strings.Repeat("x", 16<<10)
				for i := range 20 {
					fmt.Fprintf(&b, "2024-03-05T07:08:09.%dZ stdout P %s\n", i+1, frag)
				}
				b.WriteString("2024-03-05T07:08:10Z stdout F end\n")
				b.WriteString("2024-03-05T07:08:11Z stdout F next\n")
				return b.Bytes()
			},
			check: func(t *testing.T, out []Entry) {
				require.Len(t, out, 2)
				require.Len(t, out[0].Line, 256<<10)
				require.True(t, out[0].Truncated)
				require.Equal(t, "next", out[1].Line)
			},
		},
		{name: "docker_basic", format: FormatDocker},
		{name: "docker_malformed", format: FormatDocker, check: func(t *testing.T, out []Entry) {
			require.Equal(t, []string{"good 1", "good 2"}, lines(out))
		}},
		{
			// Three 16 KiB chunks plus a final one, with escaped quotes and \u2028, and a
			// stderr line between the chunks.
			name: "docker_chunks", format: FormatDocker,
			input: func(t *testing.T) []byte {
				var b bytes.Buffer
				enc := json.NewEncoder(&b)
				write := func(log, stream string, sec int) {
					require.NoError(t, enc.Encode(map[string]string{
						"log": log, "stream": stream, "time": fmt.Sprintf("2024-03-05T07:08:%02d.5Z", sec),
					}))
				}
				chunk := func(c byte) string {
					s := bytes.Repeat([]byte{c}, 16<<10)
					copy(s[100:], `say "hi"`)
					copy(s[200:], "\u2028")
					return string(s)
				}
				write(chunk('a'), "stdout", 1)
				write(chunk('b'), "stdout", 2)
				write("stderr in between\n", "stderr", 3)
				write(chunk('c'), "stdout", 4)
				write(`the "end"`+"\u2028\n", "stdout", 5)
				return b.Bytes()
			},
			check: func(t *testing.T, out []Entry) {
				require.Len(t, out, 2)
				require.Equal(t, "stderr in between", out[0].Line)
				require.Len(t, out[1].Line, 3*16<<10+len(`the "end"`+"\u2028"))
				require.True(t, strings.HasSuffix(out[1].Line, `the "end"`+"\u2028"))
				require.Equal(t, 3, strings.Count(out[1].Line, `say "hi"`))
				require.Equal(t, time.Date(2024, 3, 5, 7, 8, 1, 5e8, time.UTC), out[1].Time)
				require.False(t, out[1].Truncated)
			},
		},
		{name: "raw", format: FormatRaw},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			input := readInput(t, tc)
			out, stats := decodeFile(tc.format, tc.max, input)
			if tc.check != nil {
				tc.check(t, out)
			}
			compareGolden(t, filepath.Join("testdata", tc.name+".golden"), render(out, stats))

			if tc.format == FormatRaw {
				return
			}
			// auto picks the same format from the first line and decodes the same.
			auto, autoStats := decodeFile(FormatAuto, tc.max, input)
			require.Equal(t, out, auto, "format auto")
			require.Equal(t, stats, autoStats)
		})
	}
}

func readInput(t *testing.T, tc goldenCase) []byte {
	if tc.input != nil {
		return tc.input(t)
	}
	b, err := os.ReadFile(filepath.Join("testdata", tc.name+".log"))
	require.NoError(t, err)
	return b
}

// decodeFile decodes a whole file as the tailer does: line by line, then Flush when the
// file ends (an unterminated last line counts as a line).
func decodeFile(format Format, max int, input []byte) ([]Entry, Stats) {
	if max == 0 {
		max = 256 << 10
	}
	d := New(Config{Format: format, MaxLineSize: max})
	var out []Entry
	var off int64
	for len(input) > 0 {
		line := input
		n := bytes.IndexByte(input, '\n')
		if n >= 0 {
			line = input[:n]
			input = input[n+1:]
		} else {
			input = nil
		}
		out = d.Line(out, line, off, false, now)
		off += int64(len(line) + 1)
	}
	return d.Flush(out), d.Stats
}

// goldenEntry is how an entry is written in a golden file.
type goldenEntry struct {
	Time       string `json:"time"`
	Stream     string `json:"stream,omitempty"`
	Line       string `json:"line"`
	Truncated  bool   `json:"truncated,omitempty"`
	Incomplete bool   `json:"incomplete,omitempty"`
}

func render(out []Entry, st Stats) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, e := range out {
		_ = enc.Encode(goldenEntry{
			Time: e.Time.Format(time.RFC3339Nano), Stream: e.Stream.String(), Line: e.Line,
			Truncated: e.Truncated, Incomplete: e.Incomplete,
		})
	}
	counts := map[string]uint64{
		"lines": st.Lines, "malformed_bytes": st.MalformedBytes, "truncated": st.Truncated, "truncated_bytes": st.TruncatedBytes, "flushed": st.Flushed,
	}
	for r := range NumReasons {
		if st.Malformed[r] > 0 {
			counts["malformed_"+r.String()] = st.Malformed[r]
		}
	}
	_ = enc.Encode(map[string]any{"stats": counts})
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
