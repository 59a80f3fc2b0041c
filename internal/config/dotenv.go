package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// ReadEnvFile parses an env file as docker compose parses .env (see ParseEnvWith), without an
// environment to inherit from or interpolate with.
func ReadEnvFile(path string) (map[string]string, error) {
	return readEnvFile("env file", path, nil)
}

// readEnvFile reads the env file at path; what names who gave it (".env", "DEFAULTS_FILE").
func readEnvFile(what, path string, env map[string]string) (map[string]string, error) {
	data, err := userfile.ReadFile(what, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	vars, err := ParseEnvWith(string(data), env)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return vars, nil
}

// ParseEnv parses the text of an env file (see ParseEnvWith) with no environment.
func ParseEnv(text string) (map[string]string, error) { return ParseEnvWith(text, nil) }

// ParseEnvWith parses the text of an env file the way docker compose reads .env
// (compose-go/v2/dotenv), so every file compose accepts means the same here:
//
//   - blank lines and lines starting with # are skipped; `export ` before a name is ignored;
//   - NAME=value or NAME: value; a NAME alone on its line takes its value from env, if set there;
//   - an unquoted value ends at the line's end or at " #" (a comment), and is trimmed;
//   - a value in single quotes is taken literally, a value in double quotes has its escapes
//     (\n, \t, \", \\, \$ …) expanded; both may span lines; \' or \" keeps a quote inside;
//   - unquoted and double-quoted values are interpolated (${NAME}, ${NAME:-default}, $$ …) from
//     env first, then from the names defined above them in the file.
//
// Errors name the line and the variable but never print a value: .env holds secrets.
func ParseEnvWith(text string, env map[string]string) (map[string]string, error) {
	p := envParser{src: strings.TrimPrefix(text, "\uFEFF"), line: 1, env: env, vars: map[string]string{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.vars, nil
}

type envParser struct {
	src  string
	pos  int
	line int
	env  map[string]string
	vars map[string]string
}

func (p *envParser) parse() error {
	for {
		p.skipBlankAndComments()
		if p.pos >= len(p.src) {
			return nil
		}
		line := p.line
		key, inherited, err := p.key()
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if inherited {
			if v, ok := p.env[key]; ok {
				p.vars[key] = v
			}
			continue
		}
		v, err := p.value(key)
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		p.vars[key] = v
	}
}

func (p *envParser) rune() (rune, int) { return utf8.DecodeRuneInString(p.src[p.pos:]) }

// skipBlankAndComments moves to the start of the next statement.
func (p *envParser) skipBlankAndComments() {
	for p.pos < len(p.src) {
		r, n := p.rune()
		switch {
		case r == '\n':
			p.line++
		case r == '#':
			end := strings.IndexByte(p.src[p.pos:], '\n')
			if end < 0 {
				p.pos = len(p.src)
				return
			}
			n = end
		case !unicode.IsSpace(r):
			return
		}
		p.pos += n
	}
}

// skipSpaces skips white space within the line.
func (p *envParser) skipSpaces() {
	for p.pos < len(p.src) {
		r, n := p.rune()
		if !isLineSpace(r) {
			return
		}
		p.pos += n
	}
}

// key reads `[export ]NAME` up to its =, : or the end of the line (inherited).
func (p *envParser) key() (key string, inherited bool, err error) {
	if rest, ok := strings.CutPrefix(p.src[p.pos:], "export"); ok && rest != "" {
		if r, _ := utf8.DecodeRuneInString(rest); isLineSpace(r) {
			p.pos += len("export")
			p.skipSpaces()
		}
	}
	start := p.pos
	end := -1
	for p.pos < len(p.src) && end < 0 {
		r, n := p.rune()
		switch {
		case r == '=' || r == ':':
			end = p.pos
		case r == '\n':
			end, inherited = p.pos, true
			p.line++
		case isLineSpace(r), r == '_', r == '.', r == '-', r == '[', r == ']', unicode.IsLetter(r), unicode.IsNumber(r):
		default:
			return "", false, errors.New("a variable name may hold only letters, digits and _ . - [ ]: write NAME=value")
		}
		p.pos += n
	}
	if end < 0 { // a name alone on the last line
		end, inherited = p.pos, true
	}
	key = strings.TrimRightFunc(p.src[start:end], unicode.IsSpace)
	switch {
	case key == "":
		return "", false, errors.New("no variable name before =: write NAME=value")
	case strings.ContainsAny(key, " \t\v\f\r"):
		return "", false, errors.New("a variable name cannot contain a space: write NAME=value")
	}
	if !inherited {
		p.skipSpaces()
	}
	return key, inherited, nil
}

// value reads the value of key after its = (the position is past the spaces that follow it).
func (p *envParser) value(key string) (string, error) {
	if p.pos >= len(p.src) || (p.src[p.pos] != '"' && p.src[p.pos] != '\'') {
		rest := p.src[p.pos:]
		v, _, found := strings.Cut(rest, "\n")
		p.pos += len(v)
		if found {
			p.pos++
			p.line++
		}
		v, _, _ = strings.Cut(v, " #")
		return p.interpolate(key, strings.TrimRightFunc(v, unicode.IsSpace))
	}
	quote := p.src[p.pos]
	var chars []byte
	escaped := false
	for i := p.pos + 1; i < len(p.src); i++ {
		c := p.src[i]
		if c == '\n' {
			p.line++
		}
		switch {
		case c == quote && !escaped:
			p.pos = i + 1
			if quote == '\'' {
				return string(chars), nil
			}
			return p.interpolate(key, expandEscapes(string(chars)))
		case c == quote: // \" or \' keeps the quote
			chars = append(chars, c)
			escaped = false
		case escaped:
			chars = append(chars, '\\', c)
			escaped = false
		case c == '\\':
			escaped = true
		default:
			chars = append(chars, c)
		}
	}
	return "", fmt.Errorf("the value of %s opens a %c quote that is never closed: close it (a quoted value may span lines)", key, quote)
}

// interpolate substitutes variables in v as compose does: the environment first, then the names
// defined above in the file.
func (p *envParser) interpolate(key, v string) (string, error) {
	if !strings.Contains(v, "$") {
		return v, nil
	}
	// Looked up in place: merging the maps for every value made a long file quadratic.
	out, err := compose.InterpolateFunc(v, func(name string) (string, bool) {
		if v, ok := p.env[name]; ok {
			return v, true
		}
		v, ok := p.vars[name]
		return v, ok
	})
	if err != nil {
		// The reason quotes the value; say only what to do.
		return "", fmt.Errorf("the value of %s cannot be interpolated as compose does: a $ must start a variable such as ${NAME} or ${NAME:-default}, and a ${NAME:?…} must be set; write $$ for a literal $, or single-quote the value", key)
	}
	return out, nil
}

var escapeSeq = regexp.MustCompile(`\\(?:[abcfnrtv$"\\]|0\d{0,3})`)

// expandEscapes expands the escapes compose expands in a double-quoted value; \$ becomes $$ so
// interpolation leaves a literal $.
func expandEscapes(s string) string {
	return escapeSeq.ReplaceAllStringFunc(s, func(m string) string {
		if m == `\$` {
			return "$$"
		}
		if strings.HasPrefix(m, `\0`) {
			m = `\` + m[2:]
		}
		v, _, _, err := strconv.UnquoteChar(m, '"')
		if err != nil {
			return m
		}
		return string(v)
	})
}

// isLineSpace is white space other than a line break.
func isLineSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}
