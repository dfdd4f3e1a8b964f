package decode

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The seeds below run as ordinary tests; `go test -fuzz FuzzCRI` (etc.) explores further.

func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{
		"2024-03-05T07:08:09.123456789Z", "2024-03-05T07:08:09Z", "2024-03-05T07:08:09.5+02:00",
		"2024-02-29T23:59:59.9-07:30", "0000-01-01T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-01-01T00:00:00.1234567890Z", "2024-01-01T00:00:00+24:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseTimestamp([]byte(s))
		if !ok {
			return
		}
		// Whatever this parser accepts, the standard library accepts with the same instant.
		ref, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err, s)
		require.True(t, ref.Equal(got), "%s: got %s, time.Parse %s", s, got, ref)
	})
}

func FuzzCRI(f *testing.F) {
	for _, s := range []string{
		"2024-03-05T07:08:09.123456789Z stdout F hello",
		"2024-03-05T07:08:09.1Z stderr P part\n2024-03-05T07:08:09.2Z stderr F end",
		"2024-03-05T07:08:09.1Z stdout P a\n2024-03-05T07:08:09.2Z stderr P b\n2024-03-05T07:08:09.3Z stdout F c",
		"2024-03-05T07:08:09+01:00 stdout F:x 😀",
		"2024-03-05T07:08:09Z stdout F",
		"2024-03-05T07:08:09Z stdout  x",
		"garbage\n\n\xff",
	} {
		f.Add([]byte(s), uint16(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		checkDecoder(t, FormatCRI, data, int(max))
		// A single line that parses: its timestamp is what time.Parse reads.
		if bytes.IndexByte(data, '\n') < 0 {
			ts, _, _, _, r := parseCRI(data)
			if r == reasonOK {
				ref, err := time.Parse(time.RFC3339Nano, string(data[:bytes.IndexByte(data, ' ')]))
				require.NoError(t, err)
				require.True(t, ref.Equal(ts))
			}
		}
	})
}

func FuzzDocker(f *testing.F) {
	for _, s := range []string{
		`{"log":"hello\n","stream":"stdout","time":"2024-03-05T07:08:09.123456789Z"}`,
		`{"log":"a \"q\" \\ \u2028 \ud83d\ude00 \ud800 x","stream":"stderr","time":"2024-03-05T07:08:09Z"}`,
		`{"log":"x\n","stream":"stdout","attrs":{"a":[1,{"b":null}],"c":true},"time":"2024-03-05T07:08:09Z"}`,
		`{"log":"a\n","log":"b\n","stream":"stdout","time":"2024-03-05T07:08:09Z"}`,
		`{"log":"chunk","stream":"stdout","time":"2024-03-05T07:08:09Z"}` + "\n" + `{"log":"end\n","stream":"stdout","time":"2024-03-05T07:08:10Z"}`,
		`{"log":1}`, `[]`, `{`, `{"log":"\u00"}`, "{\"log\":\"\t\"}",
	} {
		f.Add([]byte(s), uint16(64))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		checkDecoder(t, FormatDocker, data, int(max))
		if bytes.IndexByte(data, '\n') >= 0 || !utf8.Valid(data) {
			return
		}
		// One valid-UTF-8 line: agree with encoding/json on whether it is an object with
		// string log, stream and time, and on the log text.
		var d Decoder
		msg, stream, _, r := d.parseDocker(data)
		var ref map[string]json.RawMessage
		var refLog, refStream string
		refOK := json.Unmarshal(data, &ref) == nil && ref != nil &&
			json.Unmarshal(ref["log"], &refLog) == nil && ref["log"] != nil && ref["log"][0] == '"'
		if r == reasonOK {
			require.True(t, refOK, "encoding/json rejects %q", data)
			require.Equal(t, refLog, string(msg))
			require.NoError(t, json.Unmarshal(ref["stream"], &refStream))
			require.Equal(t, refStream, stream.String())
		} else if r == ReasonDockerJSON {
			require.False(t, refOK, "encoding/json accepts %q", data)
		}
	})
}

// checkDecoder decodes data line by line and checks the invariants every input must keep:
// no panic, entries within the bound, valid UTF-8 in gives valid UTF-8 out, the safe offset
// never beyond what was consumed.
func checkDecoder(t *testing.T, format Format, data []byte, max int) {
	if max < 1 {
		max = 1
	}
	d := New(Config{Format: format, MaxLineSize: max})
	var out []Entry
	var off int64
	valid := utf8.Valid(data)
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		out = d.Line(out, line, off, false, now)
		off += int64(len(line) + 1)
		require.LessOrEqual(t, d.Safe(off), off)
	}
	out = d.Flush(out)
	require.Equal(t, off, d.Safe(off))
	for _, e := range out {
		require.LessOrEqual(t, len(e.Line), max)
		if valid && format == FormatCRI {
			require.True(t, utf8.ValidString(e.Line), "%q", e.Line)
		}
	}
}
