// Package samtest is the test kit of the SAM template corpus (the SAM translator's input
// templates beside the repository clone): where it is, and its templates. Tests only; shipped code
// never imports it.
package samtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dindbundler/dindbundler/internal/source"
)

// CorpusDir is the SAM translator's input templates (see NOTICE.md there): shared/ lives beside
// the repository clone, here and in CI; SAM_CORPUS points elsewhere.
func CorpusDir() string {
	if d := os.Getenv("SAM_CORPUS"); d != "" {
		return d
	}
	d, err := source.Path("..", "shared", "sam-corpus")
	if err != nil {
		return filepath.Join("..", "..", "..", "shared", "sam-corpus")
	}
	return d
}

// CorpusFiles skips the test on a bare clone, which has no shared/ beside it, and fails it in CI
// (CI=true), which always has: a corpus test that silently stopped running would prove nothing.
func CorpusFiles(t testing.TB) []string {
	t.Helper()
	d := CorpusDir()
	files, err := filepath.Glob(filepath.Join(d, "*.yaml"))
	if err != nil || len(files) == 0 {
		msg := fmt.Sprintf("no SAM corpus templates in %s: put the corpus at ../shared/sam-corpus beside the clone or set SAM_CORPUS", d)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: the corpus must be there)")
		}
		t.Skip(msg)
	}
	return files
}
