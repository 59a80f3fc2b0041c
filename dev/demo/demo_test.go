package demo_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/matryer/is"
)

// TestPrepareIsIdempotent: after one Prepare, a second one compiles nothing and builds nothing,
// and both return the variables pointing the example's runtimes at the stand-ins.
func TestPrepareIsIdempotent(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := filepath.Join("..", "..", "examples", "demo")

	start := time.Now()
	var progress bytes.Buffer
	env, err := demo.Prepare(ctx, api, dir, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	t.Logf("first Prepare: %s\n%s", time.Since(start).Round(time.Millisecond), progress.String())
	want := map[string]string{
		"RUNTIME_BASE_PYTHON3_12": "dindbundler/runtime-python:3.12",
		"RUNTIME_BASE_NODEJS20_X": "dindbundler/runtime-nodejs:20",
		"RUNTIME_BASE_JAVA21":     "dindbundler/runtime-java:21",
		"BUILD_IMAGE_PYTHON3_12":  "dindbundler/build-python:3.12",
		"PIP_FIND_LINKS":          "/wheels", // the build image's wheels, whatever the caller's environment says
		"PIP_NO_INDEX":            "1",
	}
	is.Equal(env, want)
	for _, bin := range []string{"gateway/gateway", "agent/agent", "storage/storage", "logs/logs", "runtime/lambda-entrypoint"} {
		fi, err := os.Stat(filepath.Join(dir, bin))
		is.NoErr(err)
		is.True(fi.Mode()&0o111 != 0) // executable
	}
	for _, ref := range []string{demo.LogsImage, demo.StandIns["python3.12"], demo.StandIns["nodejs20.x"], demo.StandIns["java21"], demo.BuildImages["python3.12"], demo.RootfsTag()} {
		_, err := api.ImageInspect(ctx, ref)
		is.NoErr(err)
	}

	counting := enginetest.NewCounting(api)
	progress.Reset()
	start = time.Now()
	env, err = demo.Prepare(ctx, counting, dir, &progress)
	is.NoErr(err)
	t.Logf("second Prepare: %s", time.Since(start).Round(time.Millisecond))
	is.Equal(env, want)
	is.Equal(counting.Count("ImageBuild"), int64(0)) // images up to date
	is.Equal(progress.String(), "")                  // nothing compiled or built
}
