// Package builderstest is the test kit of the builders: stand-in build images made from Debian
// packages (no registry is reachable here, so AWS's sam/build-* images cannot be pulled), and a
// runner that calls a built function's handler inside its image. Never imported by shipped code.
package builderstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/dind/dindtest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// StandInPackages are the Debian packages of the stand-in image: the package managers the
// builders call (pip, npm, go, make) and the interpreters the handlers run on.
var StandInPackages = []string{"python3", "python3-pip", "nodejs", "npm", "golang-go", "make", "ca-certificates", "git"}

var (
	standInMu  sync.Mutex
	standInTag = map[string]string{}
)

// StandIn returns a Debian bookworm image holding pkgs, built once per test binary and kept in
// the engine under a tag derived from the package list (builders-standin:<hash>), so later runs
// reuse it. It stands for both the sam/build-<runtime> build images and the Lambda runtime
// bases. Debian's pip refuses to install outside a virtual environment (PEP 668); the marker is
// removed, as AWS's build images have none.
func StandIn(t testing.TB, api client.APIClient, pkgs ...string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(strings.Join(pkgs, ",") + "|v1"))
	tag := "builders-standin:" + hex.EncodeToString(sum[:6])
	standInMu.Lock()
	defer standInMu.Unlock()
	if _, ok := standInTag[tag]; ok {
		return tag
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if _, err := api.ImageInspect(ctx, tag); err == nil {
		standInTag[tag] = tag
		return tag
	}
	if os.Geteuid() != 0 {
		t.Skip("building the stand-in build image needs root (debootstrap)")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("debootstrap is not installed (scripts/with-docker installs it)")
	}
	sources, err := base.ReadAptSources("/")
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := base.PickMirror(sources, base.Suite)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "builders-standin-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	var out bytes.Buffer
	// debootstrap's own resolver cannot install npm (its dependencies are virtual packages other
	// node-* packages provide), so it lays down minbase and apt installs the rest in a chroot.
	run := func(name string, args ...string) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tailLines(out.String(), 30))
		}
	}
	run("debootstrap", "--variant=minbase", base.Suite, dir, mirror)
	if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "etc/resolv.conf"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("chroot", dir, "apt-get", "-o", "Acquire::Check-Valid-Until=false", "update", "-q")
	run("chroot", append([]string{dir, "apt-get", "install", "-y", "-q", "--no-install-recommends"}, pkgs...)...)
	marks, _ := filepath.Glob(filepath.Join(dir, "usr/lib/python3*/EXTERNALLY-MANAGED"))
	for _, m := range marks {
		if err := os.Remove(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		entries, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range entries {
			if e.Type().IsRegular() {
				os.Remove(filepath.Join(dir, sub, e.Name()))
			}
		}
	}
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", dir, "-cf", "-", ".")
	stdout, err := tarCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var tarErr bytes.Buffer
	tarCmd.Stderr = &tarErr
	if err := tarCmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, ierr := engine.Import(ctx, api, stdout, tag, []string{
		`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
		`ENV HOME=/root`,
		`CMD ["/bin/sh"]`,
	})
	if werr := tarCmd.Wait(); werr != nil && ierr == nil {
		t.Fatalf("tar %s: %v: %s", dir, werr, tarErr.String())
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	t.Logf("built stand-in image %s (%s) in %s", tag, strings.Join(pkgs, " "), time.Since(start).Round(time.Second))
	standInTag[tag] = tag
	return tag
}

// Run runs cmd in a throwaway container of img (entrypoint replaced) and returns its output
// and exit code.
func Run(t testing.TB, api client.APIClient, img string, cmd ...string) (string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	created, err := api.ContainerCreate(ctx, &container.Config{Image: img, Entrypoint: cmd[:1], Cmd: cmd[1:]}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create a container of %s: %v", img, err)
	}
	defer api.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err := api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start a container of %s: %v", img, err)
	}
	code, err := dindtest.WaitForExit(ctx, api, created.ID)
	if err != nil {
		t.Fatalf("wait for the container of %s: %v", img, err)
	}
	out, err := dindtest.Logs(ctx, api, created.ID)
	if err != nil {
		t.Fatalf("read the output of %s: %v", img, err)
	}
	return out, code
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Describe is a one-line summary for logs.
func Describe(pkgs []string) string {
	return fmt.Sprintf("Debian %s with %s", base.Suite, strings.Join(pkgs, ", "))
}
