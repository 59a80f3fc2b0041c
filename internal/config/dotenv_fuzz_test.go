package config

import (
	"strings"
	"testing"
)

// FuzzParseEnv: any text parses to variables or to an error, never both, never a panic; an
// error's text is one of the parser's own (it quotes nothing of a value).
func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{
		"", "A=1\n", "export A='x'\n", "A=\"multi\nline\"\n", "A=${B:-c}\nB=$$\n", "A\n", "A: b # c\n",
		"A=\"unterminated\n", "A=x$\n", "=1", "A B=1", "\uFEFFA=\"\\n\\t\\\"\"", "A='it\\'s'", "#c\n\n\r\nA=1\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		vars, err := ParseEnv(text)
		if (vars == nil) == (err == nil) {
			t.Fatalf("want exactly one of variables and error, got %v and %v", vars, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "line ") {
			t.Fatalf("error %q does not name its line", err)
		}
	})
}
