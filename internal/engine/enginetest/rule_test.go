package enginetest_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dindbundler/dindbundler/internal/source"
)

// The rule for tests that need an engine: they reach it through this kit (Client, Each,
// Engines, SSHHost), which skips them under DINDBUNDLER_SKIP_DOCKER=1, so
// `DINDBUNDLER_SKIP_DOCKER=1 go test ./...` runs on a machine without Docker. A test file that
// makes its own client or runs the docker CLI must go through the kit too.
func TestEngineTestsSkip(t *testing.T) {
	root, err := source.Root()
	if err != nil {
		t.Fatal(err)
	}
	ownEngine := regexp.MustCompile(`engine\.New\(\)|client\.NewClientWithOpts\(|exec\.Command(Context)?\((ctx, )?"docker"`)
	throughKit := regexp.MustCompile(`enginetest\.(Client|Each|Engines|SSHHost|SkipWithoutDocker)\(|hostEngine\(t\)`)
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, "_test.go") || strings.Contains(p, string(filepath.Separator)+"enginetest"+string(filepath.Separator)) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if ownEngine.Match(data) {
			checked++
			if !throughKit.Match(data) {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s reaches an engine without enginetest: it would fail, not skip, under DINDBUNDLER_SKIP_DOCKER=1", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d test files make their own engine client or run the docker CLI", checked)
}
