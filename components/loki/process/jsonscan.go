package process

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON scanner that works on the line in place: values are returned as substrings
// (strings are unescaped, allocating only when they hold escapes), and everything the
// expressions do not ask for is skipped without being decoded. encoding/json would decode
// the whole line into maps and interfaces — several allocations per field per line — for
// the two or three values a pipeline usually wants.

var errMalformedJSON = errors.New("malformed JSON")

// maxJSONDepth bounds the nesting skipValue accepts, so hostile lines cost bounded work.
const maxJSONDepth = 1000

func skipWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString returns the index just after the string starting at s[i] (a '"') and whether
// it holds escapes.
func scanString(s string, i int) (int, bool, error) {
	// Fast path: the next quote, with no backslash before it (IndexByte is vectorised).
	if k := strings.IndexByte(s[i+1:], '"'); k >= 0 && strings.IndexByte(s[i+1:i+1+k], '\\') < 0 {
		return i + 2 + k, false, nil
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '"':
			return j + 1, true, nil
		case '\\':
			j++
		}
	}
	return 0, false, errMalformedJSON
}

// skipValue returns the index just after the value starting at s[i].
func skipValue(s string, i int) (int, error) {
	if i >= len(s) {
		return 0, errMalformedJSON
	}
	switch c := s[i]; {
	case c == '"':
		end, _, err := scanString(s, i)
		return end, err
	case c == '{' || c == '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				end, _, err := scanString(s, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				if depth++; depth > maxJSONDepth {
					return 0, errMalformedJSON
				}
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errMalformedJSON
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(s) && isNumberByte(s[j]) {
			j++
		}
		return j, nil
	case strings.HasPrefix(s[i:], "true"):
		return i + 4, nil
	case strings.HasPrefix(s[i:], "false"):
		return i + 5, nil
	case strings.HasPrefix(s[i:], "null"):
		return i + 4, nil
	}
	return 0, errMalformedJSON
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// unquoteJSON returns the content of the JSON string raw (with its quotes). It allocates
// only when the string holds escapes.
func unquoteJSON(raw string, escaped bool) (string, error) {
	body := raw[1 : len(raw)-1]
	if !escaped {
		return body, nil
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i++; i >= len(body) {
			return "", errMalformedJSON
		}
		switch body[i] {
		case '"', '\\', '/':
			b.WriteByte(body[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(body, i+1)
			if !ok {
				return "", errMalformedJSON
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(body, i+3); ok && i+2 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default:
			return "", errMalformedJSON
		}
	}
	return b.String(), nil
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
