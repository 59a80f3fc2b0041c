package dind_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// load.sh runs on target machines we do not know: POSIX sh, shellcheck-clean.
func TestLoadShIsCleanPOSIXSh(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed (apt-get install shellcheck)")
	}
	out, err := exec.Command("shellcheck", "-s", "sh", "load.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck load.sh: %v\n%s", err, out)
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
