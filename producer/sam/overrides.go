package sam

import (
	"errors"
	"fmt"
	"strings"
)

// overridesHelp ends every ParseOverrides error: it shows the accepted forms.
const overridesHelp = `write PARAMETER_OVERRIDES as "Key=Value,Key2=Value2", "Key=Value Key2=Value2" or ` +
	`"ParameterKey=Key,ParameterValue=Value"; quote values that contain commas or spaces: Key="a,b"`

// ParseOverrides parses PARAMETER_OVERRIDES. Pairs are separated by commas or whitespace and
// written Key=Value (the value may contain '=') or, as SAM CLI accepts them,
// ParameterKey=Key,ParameterValue=Value. A value containing commas or spaces is quoted with
// double quotes (\" and \\ escape inside them) or single quotes. An empty string gives an empty map.
func ParseOverrides(s string) (map[string]string, error) {
	tokens, err := overrideTokens(s)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	set := func(k, v string) error {
		if !validParamName(k) {
			return fmt.Errorf("parameter override %q: a parameter name has only letters and digits; %s", k, overridesHelp)
		}
		if _, dup := out[k]; dup {
			return fmt.Errorf("parameter override %s is set twice: keep one", k)
		}
		out[k] = v
		return nil
	}
	for i := 0; i < len(tokens); i++ {
		t := tokens[i]
		if !t.hasEq {
			return nil, fmt.Errorf("parameter override %q has no '=': %s", t.raw, overridesHelp)
		}
		switch t.key {
		case "ParameterKey":
			if i+1 >= len(tokens) || tokens[i+1].key != "ParameterValue" || !tokens[i+1].hasEq {
				return nil, fmt.Errorf("parameter override ParameterKey=%s is not followed by ParameterValue=...: %s", t.value, overridesHelp)
			}
			if err := set(t.value, tokens[i+1].value); err != nil {
				return nil, err
			}
			i++
		case "ParameterValue":
			return nil, fmt.Errorf("parameter override ParameterValue=%s has no ParameterKey=... before it: %s", t.value, overridesHelp)
		default:
			if err := set(t.key, t.value); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

type overrideToken struct {
	raw        string // as written, for messages
	key, value string
	hasEq      bool
}

// overrideTokens splits s at commas and whitespace outside quotes and splits each token at its
// first unquoted '='.
func overrideTokens(s string) ([]overrideToken, error) {
	var tokens []overrideToken
	var cur, raw strings.Builder
	var tok overrideToken
	started := false
	var quote rune
	flush := func() {
		if started {
			if tok.hasEq {
				tok.value = cur.String()
			} else {
				tok.key = cur.String()
			}
			tok.raw = raw.String()
			tokens = append(tokens, tok)
		}
		tok, started = overrideToken{}, false
		cur.Reset()
		raw.Reset()
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		if quote != 0 {
			raw.WriteRune(c)
			switch {
			case c == quote:
				quote = 0
			case c == '\\' && quote == '"' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\'):
				i++
				raw.WriteRune(rs[i])
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(c)
			}
			continue
		}
		switch {
		case c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			flush()
			continue
		}
		started = true
		raw.WriteRune(c)
		switch {
		case c == '"' || c == '\'':
			quote = c
		case c == '=' && !tok.hasEq:
			tok.key, tok.hasEq = cur.String(), true
			cur.Reset()
		default:
			cur.WriteRune(c)
		}
	}
	if quote != 0 {
		return nil, errors.New("parameter overrides end inside a quoted value: close the quote; " + overridesHelp)
	}
	flush()
	return tokens, nil
}
