package enginetest_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/source"
)

// shipped are the entry points whose code ends up in a binary: the Mage targets (and the
// developer harness magefiles/ imports with them), the producer and registry commands, and the
// pipeline.
var shipped = []string{"./targets", "./dev", "./cmd/dindbundler-producer", "./cmd/dindbundler-registry", "./pipeline"}

// TestShippedCodeLinksNoTestKit proves what the project's style promises: test kits (this
// package, dind/dindtest, any …test package of the module) and the standard library's testing
// package are never linked into a shipped binary.
func TestShippedCodeLinksNoTestKit(t *testing.T) {
	is := is.New(t)
	root, err := source.Root()
	is.NoErr(err)
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}"}, shipped...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s in %s: %v", strings.Join(shipped, " "), root, err)
	}
	module := "github.com/dindbundler/dindbundler/"
	var seen int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		seen++
		switch {
		case std == "true" && (path == "testing" || strings.HasPrefix(path, "testing/")):
			t.Errorf("%s is linked into a shipped binary (go list -deps %s | grep testing; find who imports it with go list -f '{{.ImportPath}} {{.Imports}}' -deps)", path, strings.Join(shipped, " "))
		case strings.HasPrefix(path, module) && strings.HasSuffix(path, "test"):
			t.Errorf("test kit %s is linked into a shipped binary; shipped code must use internal/engine instead", path)
		}
	}
	is.True(seen > len(shipped)) // go list listed the dependencies, not just the entry points
}
