package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// longEnv is an env file of n lines, each interpolating the one before it and a variable of the
// environment: every line pays the interpolation, values stay short.
func longEnv(n int) string {
	var b strings.Builder
	b.WriteString("V0=start\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "V%d=${HOME:-h}/${V%d:+after}-%d\n", i, i-1, i)
	}
	return b.String()
}

// environOf is an environment of the usual size.
func environOf(n int) map[string]string {
	env := map[string]string{"HOME": "/root"}
	for i := 0; i < n; i++ {
		env[fmt.Sprintf("SOME_VAR_%d", i)] = "value"
	}
	return env
}

// A .env of 10,000 lines is read in linear time: it took 5 s per command when every value
// copied every variable defined so far.
func TestLongDotEnvReadsInLinearTime(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	is.NoErr(os.WriteFile(filepath.Join(dir, ".env"), []byte(longEnv(10_000)), 0o600))
	environ := []string{"HOME=/root"}
	for k, v := range environOf(100) {
		environ = append(environ, k+"="+v)
	}
	start := time.Now()
	c, err := Load(environ, dir)
	took := time.Since(start)
	is.NoErr(err)
	is.Equal(len(c.DotEnv), 10_000)
	is.Equal(c.DotEnv["V9999"], "/root/after-9999")
	t.Logf("10,000-line .env read in %v", took)
	// Linear reading takes ~50 ms here; the quadratic one took seconds.
	is.True(took < time.Second)
}

func BenchmarkParseEnv(b *testing.B) {
	env := environOf(100)
	for _, n := range []int{1_000, 10_000} {
		text := longEnv(n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseEnvWith(text, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
