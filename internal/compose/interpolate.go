package compose

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// InterpolationError says which value of the compose file could not be interpolated and why.
type InterpolationError struct {
	Value  string // the value as written
	Reason string
}

func (e *InterpolationError) Error() string {
	return fmt.Sprintf("interpolate %q: %s", e.Value, e.Reason)
}

// Interpolate substitutes variables in s the way docker compose does:
//
//	$$               a literal $
//	$VAR, ${VAR}     the value of VAR; empty when unset
//	${VAR:-default}  default when VAR is unset or empty
//	${VAR-default}   default when VAR is unset
//	${VAR:?message}  error when VAR is unset or empty
//	${VAR?message}   error when VAR is unset
//	${VAR:+other}    other when VAR is set and not empty, else empty
//	${VAR+other}     other when VAR is set, else empty
//
// Defaults, messages and replacements are interpolated themselves (${A:-${B}}). A $ followed by
// anything else is an error, as in compose.
func Interpolate(s string, vars map[string]string) (string, error) {
	return InterpolateFunc(s, mapLookup(vars))
}

// InterpolateFunc is Interpolate with the variables looked up by lookup, so a caller whose
// variables live in several maps need not merge them for every value (an env file that
// interpolates line after line would otherwise copy them all per line).
func InterpolateFunc(s string, lookup func(name string) (string, bool)) (string, error) {
	in := interpolator{lookup: lookup}
	out, err := in.run(s)
	if err != nil {
		return "", &InterpolationError{Value: s, Reason: err.Error()}
	}
	return out, nil
}

// interpolator remembers which variables were used without a value, so callers can warn the way
// compose does ("variable is not set, defaulting to a blank string"), and which were read at
// all: what the result depends on.
type interpolator struct {
	lookup func(name string) (string, bool)
	unset  map[string]bool
	used   map[string]bool
}

// mapLookup is the lookup of a map of variables.
func mapLookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

func (in *interpolator) get(name string) (string, bool) {
	if in.used == nil {
		in.used = map[string]bool{}
	}
	in.used[name] = true
	return in.lookup(name)
}

func (in *interpolator) unsetNames() []string { return slices.Sorted(maps.Keys(in.unset)) }
func (in *interpolator) usedNames() []string  { return slices.Sorted(maps.Keys(in.used)) }

func (in *interpolator) noteUnset(name string) {
	if in.unset == nil {
		in.unset = map[string]bool{}
	}
	in.unset[name] = true
}

func (in *interpolator) run(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("a $ at the end is not a variable (write $$ for a literal $)")
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			end, err := closingBrace(s, i+2)
			if err != nil {
				return "", err
			}
			v, err := in.braced(s[i+2 : end])
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end + 1
		case nameStart(next):
			j := i + 1
			for j < len(s) && nameChar(s[j]) {
				j++
			}
			name := s[i+1 : j]
			v, ok := in.get(name)
			if !ok {
				in.noteUnset(name)
			}
			b.WriteString(v)
			i = j
		default:
			return "", fmt.Errorf("$%c is not a variable (write $$ for a literal $)", next)
		}
	}
	return b.String(), nil
}

// closingBrace finds the } that closes a ${ whose body starts at start, skipping nested ${…}.
func closingBrace(s string, start int) (int, error) {
	depth := 0
	for i := start; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '$':
			i++ // an escaped $ cannot open a nested variable
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		}
	}
	return 0, fmt.Errorf("${ without a closing }")
}

// braced evaluates the body of ${…}.
func (in *interpolator) braced(body string) (string, error) {
	n := 0
	for n < len(body) && nameChar(body[n]) {
		n++
	}
	name := body[:n]
	if name == "" || !nameStart(name[0]) {
		return "", fmt.Errorf("${%s} does not start with a variable name", body)
	}
	val, set := in.get(name)
	rest := body[n:]
	if rest == "" {
		if !set {
			in.noteUnset(name)
		}
		return val, nil
	}
	op := rest[:1]
	if rest[0] == ':' {
		if len(rest) < 2 {
			return "", fmt.Errorf("${%s}: missing operator after ':' (use :-, :? or :+)", body)
		}
		op = rest[:2]
	}
	word := rest[len(op):]
	switch op {
	case ":-", "-":
		if set && (op == "-" || val != "") {
			return val, nil
		}
		return in.run(word)
	case ":?", "?":
		if set && (op == "?" || val != "") {
			return val, nil
		}
		msg, err := in.run(word)
		if err != nil {
			return "", err
		}
		if msg == "" {
			msg = "set it in the environment or .env"
		}
		return "", fmt.Errorf("required variable %s is missing a value: %s", name, msg)
	case ":+", "+":
		if set && (op == "+" || val != "") {
			return in.run(word)
		}
		return "", nil
	default:
		return "", fmt.Errorf("${%s}: unsupported operator %q after the variable name (use -, :-, ?, :?, + or :+)", body, op)
	}
}

func nameStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func nameChar(c byte) bool { return nameStart(c) || ('0' <= c && c <= '9') }
