package embedded

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"
)

// BuildkitdVariable names a buildkitd binary for TestRunOnStandaloneBuildKit, built from the
// module: (cd "$(go mod download -json github.com/moby/buildkit@v0.35.0 | jq -r .Dir)" &&
// CGO_ENABLED=0 go build -o /tmp/buildkitd ./cmd/buildkitd). Its OCI worker needs runc.
const BuildkitdVariable = "DINDBUNDLER_BUILDKITD"

// TestRunOnStandaloneBuildKit starts a buildkitd of its own on a unix socket (BUILDKIT_HOST)
// and builds the template there with BUILD_CACHE: the images come back as docker archives loaded
// into the engine, with their names, labels and files, the shared layer step run once. Then a
// second buildkitd, with an empty state of its own, builds them again from the cache directory
// alone: no step runs.
func TestRunOnStandaloneBuildKit(t *testing.T) {
	bin := os.Getenv(BuildkitdVariable)
	if bin == "" {
		t.Skip(BuildkitdVariable + " names no buildkitd binary: see its comment for how to build one")
	}
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	sock := startBuildkitd(t, bin)
	tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-bkd")
	req.BuildKitHost = "unix://" + sock
	// buildkitd reads FROM images from registries, never from the engine's store, and none is
	// reachable here: the functions start from scratch.
	req.Vars = map[string]string{"RUNTIME_BASE_PYTHON3_12": "scratch"}
	req.BuildCache = "type=local,dest=" + t.TempDir()
	todo := plannedBuilds(t, tmpl, req)
	built, progress := buildPlanned(t, ctx, api, todo, req)
	t.Logf("%s", progress)
	is.True(strings.Contains(progress, "builds: on BUILDKIT_HOST=unix://"))
	for i, name := range names {
		info, err := api.ImageInspect(ctx, name)
		is.NoErr(err)
		is.Equal(info.Config.Labels["com.esb.function"], fmt.Sprintf("Fn%d", i))
		got, _ := fileInImage(t, api, name, "/var/task/app.py")
		is.Equal(got, fmt.Sprintf("N = %d\n", i))
		is.True(built[name].ID != "")
	}
	runs := map[string]bool{}
	for _, name := range names[:2] {
		for _, step := range built[name].Steps.Ran {
			if strings.Contains(step.Name, "COPY layers/1/ /opt/") {
				runs[step.Vertex+step.Started.String()] = true
			}
		}
	}
	is.Equal(len(runs), 1) // the shared step ran once

	// A fresh builder: only the cache directory is left of the first.
	req.BuildKitHost = "unix://" + startBuildkitd(t, bin)
	for _, name := range names {
		_, err := api.ImageRemove(ctx, name, image.RemoveOptions{Force: true})
		is.NoErr(err)
	}
	again, err := buildAll(ctx, api, todo, nil, req, io.Discard)
	is.NoErr(err)
	for _, name := range names {
		is.Equal(again[name].Steps.Ran, nil) // every step from the cache directory
		is.True(len(again[name].Steps.Cached) > 0)
		_, err := api.ImageInspect(ctx, name)
		is.NoErr(err) // and the image is in the engine again
	}
}

// startBuildkitd runs bin with a state directory of its own on a unix socket, until the test
// ends, and returns the socket's path.
func startBuildkitd(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "buildkitd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "buildkitd.sock")
	log := &lockedBuffer{}
	cmd := exec.Command(bin, "--root", filepath.Join(dir, "root"), "--addr", "unix://"+sock,
		"--oci-worker=true", "--containerd-worker=false", "--oci-worker-snapshotter=native")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("buildkitd log:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd did not listen on %s within 30 s:\n%s", sock, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockedBuffer is a buffer a process's output and the test may use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunOnSeveralBuilders: BUILDERS lists two buildkitds; they share the images of a run, each
// image built on one of them and loaded into the engine.
func TestRunOnSeveralBuilders(t *testing.T) {
	bin := os.Getenv(BuildkitdVariable)
	if bin == "" {
		t.Skip(BuildkitdVariable + " names no buildkitd binary: see its comment for how to build one")
	}
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, b := "unix://"+startBuildkitd(t, bin), "unix://"+startBuildkitd(t, bin)
	tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-two")
	req.Vars = map[string]string{"RUNTIME_BASE_PYTHON3_12": "scratch"}
	req.Builders = []string{a, b}
	todo := plannedBuilds(t, tmpl, req)
	built, progress := buildPlanned(t, ctx, api, todo, req)
	is.True(strings.Contains(progress, "builds: on BUILDKIT_HOST="+a+" and BUILDKIT_HOST="+b+", 3 at a time"))
	where := map[string]int{}
	for i, name := range names {
		is.True(built[name].Where == "BUILDKIT_HOST="+a || built[name].Where == "BUILDKIT_HOST="+b)
		where[built[name].Where]++
		got, _ := fileInImage(t, api, name, "/var/task/app.py")
		is.Equal(got, fmt.Sprintf("N = %d\n", i))
	}
	t.Logf("images per builder: %v", where)

	req.BuildKitHost = a // and BUILDERS: which one is meant is unclear
	_, err := buildAll(ctx, api, todo, nil, req, io.Discard)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "BUILDERS lists builders, and BUILDKIT_HOST or DEPLOY_BUILDER=classic names another"))
}
