package config

import (
	"fmt"
	"os"
	"strings"
)

// Expand replaces ${VAR}, ${VAR:-default} and ${VAR:?message} in s with values from lookup.
// "$$" stands for a literal "$". ${VAR} of an unset variable is an error (*UnsetError), not an
// empty value: ${VAR:-} says that empty is intended, ${VAR:-default} gives a default for an
// unset or empty variable, and ${VAR:?message} makes an unset or empty variable an error
// carrying message.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		expr := s[i+2 : i+2+end]
		val, err := expandOne(expr, lookup)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		i += 2 + end
	}
	return b.String(), nil
}

func expandOne(expr string, lookup func(string) (string, bool)) (string, error) {
	name, op, arg := expr, "", ""
	if j := strings.Index(expr, ":"); j >= 0 && j+1 < len(expr) && (expr[j+1] == '-' || expr[j+1] == '?') {
		name, op, arg = expr[:j], expr[j:j+2], expr[j+2:]
	}
	if !validVarName(name) {
		return "", fmt.Errorf("invalid variable name %q in ${%s}", name, expr)
	}
	val, ok := lookup(name)
	switch op {
	case "":
		if !ok {
			return "", &UnsetError{Name: name}
		}
	case ":-":
		if !ok || val == "" {
			return arg, nil
		}
	case ":?":
		if !ok || val == "" {
			if arg == "" {
				arg = "must be set"
			}
			return "", fmt.Errorf("environment variable %s: %s", name, arg)
		}
	}
	return val, nil
}

// UnsetError is the error of a ${VAR} reference, without a default, to a variable that is
// not set.
type UnsetError struct{ Name string }

func (e *UnsetError) Error() string {
	return fmt.Sprintf("environment variable %s is not set (write ${%s:-} if empty is intended, ${%s:-default} for a default)",
		e.Name, e.Name, e.Name)
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// EnvLookup is os.LookupEnv, the lookup used outside tests.
func EnvLookup(name string) (string, bool) { return os.LookupEnv(name) }
