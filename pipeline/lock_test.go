package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildlock"
)

// Two runs on one BUILD_DIR: the second waits for the first before any stage runs, and says
// which process holds the directory.
func TestRunThroughWaitsForAnotherRun(t *testing.T) {
	is := is.New(t)
	cfg := preflightProject(t, map[string]string{"t.yaml": "Resources: {}\n", "docker-compose.yml": "services: {}\n"}, "TEMPLATE=t.yaml")
	buildDir := cfg.BuildDir
	held, err := buildlock.Acquire(context.Background(), buildDir, buildlock.Options{})
	is.NoErr(err)
	defer held.Release()

	var log bytes.Buffer
	b := &Bundler{Config: cfg, Log: &log}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = b.RunThrough(ctx, StepImage)
	is.True(err != nil)                                                        // no stage ran while the directory was held
	is.True(strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid()))) // the holder is named
	is.True(strings.Contains(log.String(), "waiting for BUILD_DIR"))           // and the wait was said
	is.Equal(len(b.done), 0)
}
