package decode

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC3339Nano in UTC; "" means rejected
	}{
		{"2024-03-05T07:08:09.123456789Z", "2024-03-05T07:08:09.123456789Z"},
		{"2024-03-05T07:08:09Z", "2024-03-05T07:08:09Z"},
		{"2024-03-05T07:08:09.5Z", "2024-03-05T07:08:09.5Z"},         // trimmed nanoseconds
		{"2024-03-05T07:08:09.12345Z", "2024-03-05T07:08:09.12345Z"}, // trimmed nanoseconds
		{"2024-03-05T07:08:09.000000001Z", "2024-03-05T07:08:09.000000001Z"},
		{"2024-03-05T07:08:09.123+02:00", "2024-03-05T05:08:09.123Z"}, // zone offset
		{"2024-03-05T01:08:09.123-07:30", "2024-03-05T08:38:09.123Z"},
		{"2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00Z"}, // offset crosses a year
		{"2024-02-29T23:59:59.999999999Z", "2024-02-29T23:59:59.999999999Z"},
		{"2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z"},
		{"1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
		{"9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"},
		{"2023-02-29T00:00:00Z", ""}, // not a leap year
		{"1900-02-29T00:00:00Z", ""},
		{"2024-04-31T00:00:00Z", ""},
		{"2024-13-01T00:00:00Z", ""},
		{"2024-00-01T00:00:00Z", ""},
		{"2024-01-01T24:00:00Z", ""},
		{"2024-01-01T23:60:00Z", ""},
		{"2024-01-01T23:59:60Z", ""},
		{"2024-01-01T00:00:00.1234567890Z", ""}, // 10 fractional digits
		{"2024-01-01T00:00:00.Z", ""},
		{"2024-01-01T00:00:00", ""},
		{"2024-01-01t00:00:00Z", ""},
		{"2024-01-01T00:00:00z", ""},
		{"2024-01-01T00:00:00+0100", ""},
		{"2024-01-01T00:00:00+24:00", ""},
		{"2024-01-01T00:00:00,5Z", ""},
		{"2024-01-01 00:00:00Z", ""},
		{"+024-01-01T00:00:00Z", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseTimestamp([]byte(tc.in))
			if tc.want == "" {
				require.False(t, ok)
				return
			}
			require.True(t, ok)
			require.Equal(t, tc.want, got.Format(time.RFC3339Nano))
			require.Equal(t, time.UTC, got.Location())
			ref, err := time.Parse(time.RFC3339Nano, tc.in)
			require.NoError(t, err)
			require.True(t, ref.Equal(got))
		})
	}
}

// decodeAll runs lines through a fresh decoder and flushes it at the end.
func decodeAll(cfg Config, lines ...string) ([]Entry, Stats) {
	d := New(cfg)
	var out []Entry
	var off int64
	for _, l := range lines {
		out = d.Line(out, []byte(l), off, false, now)
		off += int64(len(l)) + 1
	}
	out = d.Flush(out)
	return out, d.Stats
}

func TestCRILines(t *testing.T) {
	ts := time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.UTC)
	tests := []struct {
		name      string
		line      string
		want      []Entry
		malformed Reason // reasonOK: not malformed
	}{
		{"full", "2024-03-05T07:08:09.123456789Z stdout F hello world", []Entry{{Time: ts, Stream: StreamStdout, Line: "hello world"}}, reasonOK},
		{"stderr", "2024-03-05T07:08:09.123456789Z stderr F oops", []Entry{{Time: ts, Stream: StreamStderr, Line: "oops"}}, reasonOK},
		{"empty message", "2024-03-05T07:08:09.123456789Z stdout F ", []Entry{{Time: ts, Stream: StreamStdout, Line: ""}}, reasonOK},
		{"no space after tag", "2024-03-05T07:08:09.123456789Z stdout F", []Entry{{Time: ts, Stream: StreamStdout, Line: ""}}, reasonOK},
		{"spaces kept", "2024-03-05T07:08:09.123456789Z stdout F   a  b ", []Entry{{Time: ts, Stream: StreamStdout, Line: "  a  b "}}, reasonOK},
		{"extra tags", "2024-03-05T07:08:09.123456789Z stdout F:x:y msg", []Entry{{Time: ts, Stream: StreamStdout, Line: "msg"}}, reasonOK},
		{"unknown tag ends the line", "2024-03-05T07:08:09.123456789Z stdout X msg", []Entry{{Time: ts, Stream: StreamStdout, Line: "msg"}}, reasonOK},
		{"partial then flushed", "2024-03-05T07:08:09.123456789Z stdout P part", []Entry{{Time: ts, Stream: StreamStdout, Line: "part", Incomplete: true}}, reasonOK},
		{"partial with tags", "2024-03-05T07:08:09.123456789Z stdout P:x part", []Entry{{Time: ts, Stream: StreamStdout, Line: "part", Incomplete: true}}, reasonOK},
		{"PF tag is not partial", "2024-03-05T07:08:09.123456789Z stdout PF msg", []Entry{{Time: ts, Stream: StreamStdout, Line: "msg"}}, reasonOK},
		{"trimmed nanos", "2024-03-05T07:08:09.1Z stdout F a", []Entry{{Time: ts.Truncate(100 * time.Millisecond), Stream: StreamStdout, Line: "a"}}, reasonOK},
		{"zone offset", "2024-03-05T09:08:09.123456789+02:00 stdout F a", []Entry{{Time: ts, Stream: StreamStdout, Line: "a"}}, reasonOK},
		{"invalid utf-8 kept", "2024-03-05T07:08:09.123456789Z stdout F \xff\xfe", []Entry{{Time: ts, Stream: StreamStdout, Line: "\xff\xfe"}}, reasonOK},
		{"empty line", "", nil, ReasonCRIFields},
		{"only timestamp", "2024-03-05T07:08:09.123456789Z", nil, ReasonCRIFields},
		{"no tag", "2024-03-05T07:08:09.123456789Z stdout", nil, ReasonCRIFields},
		{"empty tag", "2024-03-05T07:08:09.123456789Z stdout  msg", nil, ReasonCRIFields},
		{"bad timestamp", "2024-03-05 stdout F msg", nil, ReasonCRITimestamp},
		{"plain text", "hello world this is text", nil, ReasonCRITimestamp},
		{"bad stream", "2024-03-05T07:08:09.123456789Z stdin F msg", nil, ReasonCRIStream},
		{"stream casing", "2024-03-05T07:08:09.123456789Z STDOUT F msg", nil, ReasonCRIStream},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, st := decodeAll(Config{Format: FormatCRI, MaxLineSize: 1 << 10}, tc.line)
			require.Equal(t, tc.want, got)
			for r := range NumReasons {
				want := uint64(0)
				if r == tc.malformed {
					want = 1
				}
				require.Equal(t, want, st.Malformed[r], "malformed %s", r)
			}
		})
	}
}

func TestDockerLines(t *testing.T) {
	ts := time.Date(2024, 3, 5, 7, 8, 9, 123456789, time.UTC)
	const tm = `"time":"2024-03-05T07:08:09.123456789Z"`
	tests := []struct {
		name      string
		line      string
		want      string // the line; "-" means no entry
		stream    Stream
		malformed Reason
	}{
		{"plain", `{"log":"hello\n","stream":"stdout",` + tm + `}`, "hello", StreamStdout, reasonOK},
		{"stderr", `{"log":"oops\n","stream":"stderr",` + tm + `}`, "oops", StreamStderr, reasonOK},
		{"key order", `{` + tm + `,"stream":"stdout","log":"x\n"}`, "x", StreamStdout, reasonOK},
		{"spaces", ` { "log" : "x\n" , "stream" : "stdout" , ` + tm + ` } `, "x", StreamStdout, reasonOK},
		{"escapes", `{"log":"a\"b\\c\/d\te\r\bf\fg\n","stream":"stdout",` + tm + `}`, "a\"b\\c/d\te\r\bf\fg", StreamStdout, reasonOK},
		{"inner newline", `{"log":"a\nb\n","stream":"stdout",` + tm + `}`, "a\nb", StreamStdout, reasonOK},
		{"unicode escapes", `{"log":"\u003chtml\u003e \u00e9 \u2028 \ud83d\ude00\n","stream":"stdout",` + tm + `}`, "<html> é \u2028 😀", StreamStdout, reasonOK},
		{"lone surrogate", `{"log":"\ud83d x\n","stream":"stdout",` + tm + `}`, "\uFFFD x", StreamStdout, reasonOK},
		{"raw utf-8", `{"log":"héllo 😀\n","stream":"stdout",` + tm + `}`, "héllo 😀", StreamStdout, reasonOK},
		{"attrs skipped", `{"log":"x\n","stream":"stdout","attrs":{"a":"b\"c","n":[1,-2.5e3,true,null,{"x":[]}]},` + tm + `}`, "x", StreamStdout, reasonOK},
		{"last key wins", `{"log":"a\n","log":"b\n","stream":"stderr","stream":"stdout",` + tm + `}`, "b", StreamStdout, reasonOK},
		{"escaped key", `{"l\u006fg":"x\n","stream":"std\u006fut",` + tm + `}`, "x", StreamStdout, reasonOK},
		{"empty log", `{"log":"\n","stream":"stdout",` + tm + `}`, "", StreamStdout, reasonOK},
		{"not json", `hello`, "-", 0, ReasonDockerJSON},
		{"truncated", `{"log":"x\n","stream":"stdout",`, "-", 0, ReasonDockerJSON},
		{"trailing garbage", `{"log":"x\n","stream":"stdout",` + tm + `}x`, "-", 0, ReasonDockerJSON},
		{"log not a string", `{"log":1,"stream":"stdout",` + tm + `}`, "-", 0, ReasonDockerJSON},
		{"no log", `{"stream":"stdout",` + tm + `}`, "-", 0, ReasonDockerJSON},
		{"bad escape", `{"log":"\x\n","stream":"stdout",` + tm + `}`, "-", 0, ReasonDockerJSON},
		{"bad unicode escape", `{"log":"\u12G4\n","stream":"stdout",` + tm + `}`, "-", 0, ReasonDockerJSON},
		{"control character", "{\"log\":\"a\tb\\n\",\"stream\":\"stdout\"," + tm + "}", "-", 0, ReasonDockerJSON},
		{"bad attrs", `{"log":"x\n","stream":"stdout","attrs":{"a"},` + tm + `}`, "-", 0, ReasonDockerJSON},
		{"bad literal", `{"log":"x\n","stream":"stdout","a":nope,` + tm + `}`, "-", 0, ReasonDockerJSON},
		{"empty object", `{}`, "-", 0, ReasonDockerJSON},
		{"no stream", `{"log":"x\n",` + tm + `}`, "-", 0, ReasonDockerStream},
		{"bad stream", `{"log":"x\n","stream":"stdin",` + tm + `}`, "-", 0, ReasonDockerStream},
		{"no time", `{"log":"x\n","stream":"stdout"}`, "-", 0, ReasonDockerTime},
		{"bad time", `{"log":"x\n","stream":"stdout","time":"yesterday"}`, "-", 0, ReasonDockerTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, st := decodeAll(Config{Format: FormatDocker, MaxLineSize: 1 << 10}, tc.line)
			if tc.want == "-" {
				require.Empty(t, got)
			} else {
				require.Equal(t, []Entry{{Time: ts, Stream: tc.stream, Line: tc.want}}, got)
			}
			for r := range NumReasons {
				want := uint64(0)
				if r == tc.malformed {
					want = 1
				}
				require.Equal(t, want, st.Malformed[r], "malformed %s", r)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		line string
		want Format
	}{
		{"2024-03-05T07:08:09.1Z stdout F x", FormatCRI},
		{"2024-03-05T07:08:09.1Z stderr P x", FormatCRI},
		{`{"log":"x\n","stream":"stdout","time":"2024-03-05T07:08:09.1Z"}`, FormatDocker},
		{`{"level":"info","msg":"json app log"}`, FormatRaw},
		{"plain text", FormatRaw},
		{"", FormatRaw},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			d := New(Config{MaxLineSize: 100})
			require.Equal(t, FormatAuto, d.Format())
			d.Line(nil, []byte(tc.line), 0, false, now)
			require.Equal(t, tc.want, d.Format())
		})
	}
}

func TestBoundAndUTF8(t *testing.T) {
	// A 4-byte rune straddles the bound: the cut goes before it, never through it.
	line := "2024-03-05T07:08:09Z stdout F " + strings.Repeat("a", 8) + "😀tail"
	got, st := decodeAll(Config{Format: FormatCRI, MaxLineSize: 10}, line)
	require.Equal(t, "aaaaaaaa", got[0].Line)
	require.True(t, got[0].Truncated)
	require.Equal(t, uint64(1), st.Truncated)
	require.Equal(t, uint64(len("😀tail")), st.TruncatedBytes)

	// Joined fragments are cut at the bound, counted once, emitted at F.
	got, st = decodeAll(Config{Format: FormatCRI, MaxLineSize: 10},
		"2024-03-05T07:08:09Z stdout P 123456",
		"2024-03-05T07:08:09Z stdout P 789é",
		"2024-03-05T07:08:09Z stdout P more",
		"2024-03-05T07:08:09Z stdout F end",
		"2024-03-05T07:08:09Z stdout F next",
	)
	require.Equal(t, []string{"123456789", "next"}, lines(got))
	require.True(t, got[0].Truncated)
	require.False(t, got[1].Truncated)
	require.Equal(t, uint64(1), st.Truncated)
	require.Equal(t, uint64(len("é")+len("more")+len("end")), st.TruncatedBytes)
}

func TestCutLine(t *testing.T) {
	// A physical line longer than the reader's buffer arrives cut: it is truncated.
	d := New(Config{Format: FormatRaw, MaxLineSize: 100})
	out := d.Line(nil, []byte("head of a long line"), 0, true, now)
	require.Equal(t, []Entry{{Time: now, Line: "head of a long line", Truncated: true}}, out)
	require.Equal(t, uint64(1), d.Stats.Truncated)
}

func TestFlushBeforeAndSafe(t *testing.T) {
	d := New(Config{Format: FormatCRI, MaxLineSize: 100})
	t0 := now
	l1 := "2024-03-05T07:08:09Z stdout F done"
	l2 := "2024-03-05T07:08:10Z stderr P dangling"
	l3 := "2024-03-05T07:08:11Z stdout P later"
	out := d.Line(nil, []byte(l1), 0, false, t0)
	require.Len(t, out, 1)
	off2 := int64(len(l1) + 1)
	out = d.Line(out[:0], []byte(l2), off2, false, t0)
	off3 := off2 + int64(len(l2)+1)
	out = d.Line(out, []byte(l3), off3, false, t0.Add(3*time.Second))
	end := off3 + int64(len(l3)+1)
	require.Empty(t, out)
	require.Equal(t, off2, d.Safe(end), "the oldest partial pins the safe offset")

	since, ok := d.Pending()
	require.True(t, ok)
	require.Equal(t, t0, since)

	// Five seconds after t0 only the stderr fragment is due.
	out = d.FlushBefore(nil, t0.Add(time.Second))
	require.Equal(t, []Entry{{Time: time.Date(2024, 3, 5, 7, 8, 10, 0, time.UTC), Stream: StreamStderr, Line: "dangling", Incomplete: true}}, out)
	require.Equal(t, off3, d.Safe(end))
	since, ok = d.Pending()
	require.True(t, ok)
	require.Equal(t, t0.Add(3*time.Second), since)

	out = d.Flush(nil)
	require.Equal(t, []string{"later"}, lines(out))
	require.Equal(t, end, d.Safe(end))
	_, ok = d.Pending()
	require.False(t, ok)
	require.Equal(t, uint64(2), d.Stats.Flushed)
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{FormatAuto, FormatCRI, FormatDocker, FormatRaw} {
		got, err := ParseFormat(f.String())
		require.NoError(t, err)
		require.Equal(t, f, got)
	}
	_, err := ParseFormat("json")
	require.Error(t, err)
}

func lines(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Line
	}
	return out
}

func TestHasControl(t *testing.T) {
	for n := range 40 {
		for pos := -1; pos < n; pos++ {
			for _, c := range []byte{0x00, 0x09, 0x1f, 0x20, 0x7f, 0x80, 0xff} {
				b := []byte(strings.Repeat("a", n))
				if pos >= 0 {
					b[pos] = c
				}
				want := pos >= 0 && c < 0x20
				require.Equal(t, want, hasControl(b), "n=%d pos=%d c=%#x", n, pos, c)
			}
		}
	}
}
