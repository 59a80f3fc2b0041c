package dind_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/source"
)

// Every shell script of the project is shellcheck-clean: the bundle's entrypoint and load.sh run
// on machines we do not know (POSIX sh), the others on every developer's and CI's. Without
// shellcheck the test skips, but not under CI=true, whose scripts/with-docker installs it.
func TestShellScriptsAreClean(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shellcheck is not installed; CI=true: scripts/with-docker installs it")
		}
		t.Skip("shellcheck is not installed (apt-get install shellcheck)")
	}
	root, err := source.Root()
	if err != nil {
		t.Fatal(err)
	}
	posix := []string{"dind/entrypoint.sh", "dind/build.sh", "dind/load.sh", "scripts/with-docker", "scripts/test",
		"internal/engine/matrix/engine-start.sh", "dev/bench/seed_entrypoint.sh",
		"dind/dindtest/testdata/dind-style/dockerd-entrypoint.sh", "dind/dindtest/testdata/dind-style/dind"}
	for _, part := range dind.RuntimeFiles() {
		posix = append(posix, "dind/"+part.Source)
	}
	for _, script := range posix {
		out, err := exec.Command("shellcheck", "-s", "sh", filepath.Join(root, script)).CombinedOutput()
		if err != nil {
			t.Errorf("shellcheck %s: %v\n%s", script, err, out)
		}
	}
	// .ci/run is bash (its shebang says so).
	if out, err := exec.Command("shellcheck", filepath.Join(root, ".ci", "run")).CombinedOutput(); err != nil {
		t.Errorf("shellcheck .ci/run: %v\n%s", err, out)
	}
}

// Its usage errors say what it wants.
func TestLoadShUsage(t *testing.T) {
	is := is.New(t)
	out, err := exec.Command("sh", "load.sh").CombinedOutput()
	is.True(err != nil)
	is.True(strings.Contains(string(out), "usage: sh load.sh BUNDLE_FILE"))
	out, err = exec.Command("sh", "load.sh", "/nonexistent/x.tar.gz").CombinedOutput()
	is.True(err != nil)
	is.True(strings.Contains(string(out), "/nonexistent/x.tar.gz not found"))
}
