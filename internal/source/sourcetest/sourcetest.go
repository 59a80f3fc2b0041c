// Package sourcetest is the test kit for running this repository's mage targets: a compiled mage
// binary per test, never `go run magefile.go` in the shared source tree (see
// source.CompileMage). Tests only; shipped code never imports it.
package sourcetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/source"
)

// Mage compiles this repository's magefiles into the test's temporary directory and returns
// the binary's path: run it with the project as working directory (`-w DIR` of go run).
func Mage(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "mage")
	start := time.Now()
	if err := source.CompileMage(ctx, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("compiled the magefiles in %s", time.Since(start).Round(100*time.Millisecond))
	return bin
}
