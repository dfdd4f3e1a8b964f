package kubernetes

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseLine(t *testing.T) {
	cases := []struct {
		in   string
		ts   time.Time
		text string
		ok   bool
	}{
		{"2026-03-01T12:00:00.123456789Z hello world", base.Add(123456789), "hello world", true},
		{"2026-03-01T12:00:00Z  leading space kept", base, " leading space kept", true},
		{"2026-03-01T12:00:00Z ", base, "", true},
		{"2026-03-01T12:00:00Z", base, "", true},
		{"2026-03-01T13:00:00+01:00 offset", base, "offset", true},
		{"no timestamp here", time.Time{}, "", false},
		{" 2026-03-01T12:00:00Z x", time.Time{}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			ts, text, ok := parseLine([]byte(tc.in))
			require.Equal(t, tc.ok, ok)
			if ok {
				require.True(t, tc.ts.Equal(ts), ts)
				require.Equal(t, tc.text, string(text))
			}
		})
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", 100)
	cases := []struct {
		name      string
		in        string
		max       int
		lines     []string
		truncated []bool
	}{
		{"short lines", "a\nbb\n\nccc", 50, []string{"a", "bb", "", "ccc"}, []bool{false, false, false, false}},
		{"longer than the buffer", long + "\nz\n", 1000, []string{long, "z"}, []bool{false, false}},
		{"truncated beyond the buffer", long + "\nz\n", 40, []string{long[:40], "z"}, []bool{true, false}},
		{"truncated within the buffer", "abcdef\n", 3, []string{"abc"}, []bool{true}},
		{"exactly max", long + "\n", 100, []string{long}, []bool{false}},
		{"unterminated long line", long, 1000, []string{long}, []bool{false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			var (
				buf       []byte
				lines     []string
				truncated []bool
			)
			for {
				line, next, tr, err := readLine(r, buf, tc.max)
				buf = next
				if err == nil || len(line) > 0 {
					lines = append(lines, string(line))
					truncated = append(truncated, tr)
				}
				if err != nil {
					require.True(t, errors.Is(err, io.EOF))
					break
				}
			}
			require.Equal(t, tc.lines, lines)
			require.Equal(t, tc.truncated, truncated)
		})
	}
}

func TestCursorAdvance(t *testing.T) {
	c := cursor{}
	c = c.advance(base)
	require.Equal(t, cursor{TS: base, N: 1}, c)
	c = c.advance(base)
	require.Equal(t, cursor{TS: base, N: 2}, c)
	c = c.advance(base.Add(-time.Second))
	require.Equal(t, cursor{TS: base, N: 2}, c, "never backwards")
	c = c.advance(base.Add(time.Nanosecond))
	require.Equal(t, cursor{TS: base.Add(time.Nanosecond), N: 1}, c)
}

func BenchmarkReadAndParse(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString(base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano))
		sb.WriteString(` level=info msg="request served" path=/api/v1/items status=200 duration=1.2ms`)
		sb.WriteByte('\n')
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := bufio.NewReaderSize(strings.NewReader(data), 64<<10)
		var buf []byte
		for {
			line, next, _, err := readLine(r, buf, maxLineBytes)
			buf = next
			if len(line) > 0 {
				if _, _, ok := parseLine(line); !ok {
					b.Fatal("parse")
				}
			}
			if err != nil {
				break
			}
		}
	}
}
