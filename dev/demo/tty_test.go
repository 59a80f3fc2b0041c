package demo_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/source"
	"github.com/dindbundler/dindbundler/internal/source/sourcetest"
)

// screenLines is how many lines a terminal shows at once in the smallest common size (80×24
// would be too strict for a whole pipeline; 50 is a laptop's terminal).
const screenLines = 50

// The main job's output on a terminal fits one screen: builds are one line each, rewritten in
// place, and every stage says what it did in a line or two. Run under a real pseudo-terminal
// (script(1) from util-linux), from scratch (FORCE=1, a new BUILD_DIR).
func TestDemoOutputFitsOneScreen(t *testing.T) {
	is := is.New(t)
	api := enginetest.Client(t)
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed (Debian: bsdutils)")
	}
	root, err := source.Root()
	is.NoErr(err)
	tag := enginetest.Unique("demotest-tty:latest")
	enginetest.Cleanup(t, api, tag)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "-qec", sourcetest.Mage(t)+" demo", "/dev/null")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "FORCE=1", "BUILD_DIR="+t.TempDir(), "BUNDLE_TAG="+tag, "CI=", "MAGEFILE_VERBOSE=", "TERM=xterm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo under a pseudo-terminal: %v\n%s", err, out)
	}
	screen := string(out)
	lines := strings.Count(screen, "\n")
	t.Logf("the demo printed %d lines on a terminal", lines)
	is.True(lines <= screenLines) // fits one screen
	for _, noise := range []string{"Running in", "Removing intermediate container", "Successfully built", " ---> "} {
		if strings.Contains(screen, noise) {
			t.Errorf("builder noise %q on the terminal:\n%s", noise, screen)
		}
	}
	is.True(strings.Contains(screen, "\x1b[2K")) // build lines are rewritten in place on a terminal
	for _, stage := range []string{"deploy: done in", "save: done in", "image: done in"} {
		is.True(strings.Contains(screen, stage)) // every stage that worked closes with a line
	}
}
