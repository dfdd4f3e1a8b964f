package process

import (
	"context"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzJSONStage checks the JSON scanner against encoding/json: it never panics, accepts
// every valid object, and extracts the same string values.
func FuzzJSONStage(f *testing.F) {
	for _, s := range []string{
		`{"a":"x","b":{"c":"y"}}`,
		`{"a":"esc \"q\" \u00e9\n\ud83d\ude00","b":{"c":1}}`,
		`{"a":1,"a":"last"}`,
		`{"b":[{"c":"no"}],"a":null}`,
		`{"a":"x"`, `["a"]`, `{"a":tru}`, `{"a":"\ud800"}`, ` { "a" : "sp" } `,
	} {
		f.Add(s)
	}
	c := &compiler{slots: map[string]int{}}
	cfg := &JSONConfig{Expressions: map[string]string{"a": "", "c": "b.c"}}
	st, err := cfg.compile(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		es := newEntryState(c.names)
		es.line = line
		st.process(context.Background(), es)
		failed := len(es.counts.failures) > 0

		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			return // not an object encoding/json reads: only "no panic" is checked
		}
		if failed {
			t.Fatalf("valid object reported malformed: %q", line)
		}
		if !utf8.ValidString(line) {
			return // encoding/json replaces invalid UTF-8; the stage passes bytes through
		}
		want, isString := m["a"].(string)
		got, ok := es.slots[c.slots["a"]], es.set[c.slots["a"]]
		if isString && (!ok || got != want) {
			t.Fatalf("a: got %q (%v), want %q, line %q", got, ok, want, line)
		}
		if b, isObj := m["b"].(map[string]any); isObj {
			if want, isString := b["c"].(string); isString {
				if got := es.slots[c.slots["c"]]; got != want {
					t.Fatalf("b.c: got %q, want %q, line %q", got, want, line)
				}
			}
		}
	})
}

// FuzzLogfmt checks that the logfmt scanner never panics and that every pair it reports
// comes from the line.
func FuzzLogfmt(f *testing.F) {
	for _, s := range []string{`a=1 b="x y" c`, `a="unterminated`, `=x`, `a="\"q\"" b=c=d`, "a=\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		_ = scanLogfmt(line, func(key, value string) {
			if key == "" {
				t.Fatalf("empty key from %q", line)
			}
		})
	})
}
