package scrapemgr

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/stretchr/testify/require"
)

// parsed is everything a parser said about a body, entry by entry, up to the first error.
func parseAll(p textparse.Parser) (out []string) {
	for {
		et, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			return append(out, "error")
		}
		switch et {
		case textparse.EntrySeries:
			met, ts, v := p.Series()
			var l labels.Labels
			p.Labels(&l)
			tsText := "-"
			if ts != nil {
				tsText = fmt.Sprint(*ts)
			}
			out = append(out, fmt.Sprintf("series %q %s %x %s", met, l, math.Float64bits(v), tsText))
		case textparse.EntryHelp:
			m, h := p.Help()
			out = append(out, fmt.Sprintf("help %q %q", m, h))
		case textparse.EntryType:
			m, t := p.Type()
			out = append(out, fmt.Sprintf("type %q %s", m, t))
		case textparse.EntryComment:
			out = append(out, fmt.Sprintf("comment %q", p.Comment()))
		default:
			out = append(out, fmt.Sprintf("entry %d", et))
		}
	}
}

// seriesTexts are the series texts Prometheus' parser reads from body, in order.
func seriesTexts(body []byte) (out []string) {
	p := textparse.NewPromParser(body, nil, false)
	for {
		et, err := p.Next()
		if err != nil {
			return out
		}
		if et == textparse.EntrySeries {
			met, _, _ := p.Series()
			out = append(out, string(met))
		}
	}
}

// checkSame checks that textParser says what Prometheus' parser says about body, when the
// cache expects the series body really has (the fast path) and when it expects others.
func checkSame(t testing.TB, body string) {
	want := parseAll(textparse.NewPromParser([]byte(body), nil, false))
	texts := seriesTexts([]byte(body))
	expectations := map[string]func(i int) string{
		"right": func(i int) string {
			if i < len(texts) {
				return texts[i]
			}
			return ""
		},
		"prefix": func(i int) string { // a shorter name than the line's: must not match
			if i < len(texts) && len(texts[i]) > 1 {
				return texts[i][:len(texts[i])-1]
			}
			return ""
		},
		"none": func(int) string { return "" },
	}
	for name, expect := range expectations {
		var tp *textParser
		n := 0
		tp = newTextParser([]byte(body), func() string { return expect(n) })
		var got []string
		for _, e := range parseAllCounting(tp, &n) {
			got = append(got, e)
		}
		require.Equal(t, want, got, "expecting %s series, body %q", name, body)
	}
}

// parseAllCounting is parseAll that counts the series read so far in n (what the cache's
// cursor does).
func parseAllCounting(p textparse.Parser, n *int) []string {
	return parseAll(&countingParser{Parser: p, n: n})
}

type countingParser struct {
	textparse.Parser
	n *int
}

func (c *countingParser) Series() ([]byte, *int64, float64) {
	*c.n++
	return c.Parser.Series()
}

var textBodies = []string{
	"m 1\n",
	"m 1",
	"# HELP m Some help.\n# TYPE m counter\nm_total{a=\"b\",c=\"d\"} 1.5e3 1700000000000\nm_total{a=\"x\"} 2\n",
	"m{a=\"b\"} NaN\nm{a=\"c\"} +Inf\nm{a=\"d\"} -Inf\nm{a=\"e\"} -0\n",
	"m{a=\"b\"}\t7\t123\t\n",
	"m{a=\"b\"}   7   \n",
	"m{} 1\n",
	"m{a=\"b\"}1\n",
	"m 1 2 3\n",
	"m 0x1p3\n",
	"m 1_000\n",
	"m 1\r\n",
	"m 1 12x\n",
	"m 1 -5\n",
	"m {a=\"b\"} 1\n",
	"\n\n   \nm 1\n\n",
	"  m 1\n",
	"m{a=\"b\\\"q\\\\\\n\"} 3\n",
	"{\"my.metric\",a=\"b\"} 4\n",
	"{\"my.metric\"} 4 99\n",
	"# a comment\nm 1\n# HELP m with \\\\ escapes \\n here\n",
	"m_a 1\nm 2\nm_a 3\n",
	"m 1e400\n",
	"m 99999999999999999999 99999999999999999999\n",
	"m{a=\"b\"} 1 2\nm{a=\"b\"} 1 3\n",
	"m",
	"m \n",
	"m{a=\"b\"",
	"# TYPE m gauge\nm 1\n# TYPE m bogus\n",
}

func TestTextParserAgreesWithPrometheus(t *testing.T) {
	for _, body := range textBodies {
		checkSame(t, body)
	}
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "big_series_name_total{instance=\"host-%d:9100\",job=\"node\",cpu=\"%d\"} %d.%d %d\n", i, i%4, i*1000, i, 1700000000000+i)
	}
	checkSame(t, b.String())
}

func FuzzTextParser(f *testing.F) {
	for _, body := range textBodies {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkSame(t, body)
	})
}
