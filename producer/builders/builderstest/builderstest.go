// Package builderstest is the test kit of the builders: stand-in build images made from Debian
// packages (no registry is reachable here, so AWS's sam/build-* images cannot be pulled), and a
// runner that calls a built function's handler inside its image. Never imported by shipped code.
package builderstest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/buildlock"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// StandInPackages are the Debian packages of the stand-in image: the package managers the
// builders call (pip, npm, go, make) and the interpreters the handlers run on.
var StandInPackages = []string{"python3", "python3-pip", "nodejs", "npm", "golang-go", "make", "ca-certificates", "git"}

var (
	standInMu  sync.Mutex
	standInTag = map[string]bool{}
)

// StandIn returns a Debian bookworm image holding pkgs, built once per test binary and kept in
// the engine under a tag derived from the package list (builders-standin:<hash>), so later runs
// reuse it. It stands for both the sam/build-<runtime> build images and the Lambda runtime
// bases. See EnsureStandIn for what it holds.
func StandIn(t testing.TB, api client.APIClient, pkgs ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	tag, built, err := EnsureStandIn(ctx, api, logWriter{t}, pkgs...)
	if errors.Is(err, base.ErrCannotDebootstrap) {
		t.Skip(err) // not root, or no debootstrap
	}
	if err != nil {
		t.Fatal(err)
	}
	if built {
		t.Logf("built stand-in image %s (%s) in %s", tag, strings.Join(pkgs, " "), time.Since(start).Round(time.Second))
	}
	return tag
}

// EnsureStandIn is StandIn without a test: the image for pkgs, built unless the engine has it
// (once per process, and once per machine however many processes want it at once: the tag's
// lock makes the others wait and find it). built reports whether this call built anything.
// Debian's pip refuses to install outside a virtual environment (PEP 668); the marker is
// removed, as AWS's build images have none. On top goes this machine's CA bundle
// (builders-standin:<hash>-ca<hash>): where egress passes a TLS-inspecting proxy, npm and the
// Go module proxy are reachable only through the certificates the host trusts. Waiting
// messages go to progress.
func EnsureStandIn(ctx context.Context, api client.APIClient, progress io.Writer, pkgs ...string) (tag string, built bool, err error) {
	sum := sha256.Sum256([]byte(strings.Join(pkgs, ",") + "|v1"))
	debian := "builders-standin:" + hex.EncodeToString(sum[:6])
	built, err = cachedImage(ctx, api, debian, progress, func(ctx context.Context) error { return buildDebian(ctx, api, debian, pkgs) })
	if err != nil {
		return "", false, err
	}
	bundle, err := os.ReadFile(hostCABundle)
	if err != nil {
		return debian, built, nil // no bundle to carry over: the image's own certificates serve
	}
	sum = sha256.Sum256(bundle)
	tag = debian + "-ca" + hex.EncodeToString(sum[:6])
	withCA, err := cachedImage(ctx, api, tag, progress, func(ctx context.Context) error { return addCABundle(ctx, api, debian, tag, bundle) })
	return tag, built || withCA, err
}

// addCABundle builds tag: FROM debian, the host's CA bundle copied in.
func addCABundle(ctx context.Context, api client.APIClient, debian, tag string, bundle []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"Dockerfile", []byte("FROM " + debian + "\nCOPY ca-certificates.crt " + hostCABundle + "\n")}, {"ca-certificates.crt", bundle}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data))}); err != nil {
			return fmt.Errorf("build %s: %w", tag, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("build %s: %w", tag, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build %s: %w", tag, err)
	}
	var out bytes.Buffer
	if _, err := engine.Build(ctx, api, &buf, engine.BuildOptions{Tag: tag}, &out); err != nil {
		return fmt.Errorf("build %s: %w\n%s", tag, err, out.String())
	}
	return nil
}

// cachedImage makes sure the engine has tag, calling build when it lacks it: looked up once per
// process, and built under the tag's lock (buildlock), so a process that finds another building
// it waits and then uses that image.
//
// The mutex guards the memo only, never a build: the prewarm builds the two stand-ins in one
// process at once, and the tag's lock already keeps two builds of one tag apart.
func cachedImage(ctx context.Context, api client.APIClient, tag string, progress io.Writer, build func(ctx context.Context) error) (bool, error) {
	standInMu.Lock()
	known := standInTag[tag]
	standInMu.Unlock()
	if known {
		return false, nil
	}
	built, err := buildlock.EnsureImage(ctx, buildlock.Image{
		Tag: tag,
		Have: func(ctx context.Context) (bool, error) {
			_, found, err := engine.Inspect(ctx, api, tag)
			return found, err
		},
		Build: build,
	}, buildlock.Options{Log: progress, Report: time.Minute})
	if err != nil {
		return false, err
	}
	standInMu.Lock()
	standInTag[tag] = true
	standInMu.Unlock()
	return built, nil
}

// hostCABundle is where Debian keeps the certificates it trusts, on the host and in the image.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// standinSuite is the Debian release the stand-in build images come from (python3-pip, nodejs,
// golang, maven, make as that release packages them).
const standinSuite = "bookworm"

func buildDebian(ctx context.Context, api client.APIClient, tag string, pkgs []string) error {
	return base.BuildDebian(ctx, api, base.DebianImage{
		Tag: tag, Suite: standinSuite, Packages: pkgs,
		Changes: []string{
			`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
			`ENV HOME=/root`,
			`CMD ["/bin/sh"]`,
		},
	})
}

// logWriter passes waiting messages to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
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
	code, err := engine.WaitForExit(ctx, api, created.ID)
	if err != nil {
		t.Fatalf("wait for the container of %s: %v", img, err)
	}
	out, err := engine.Logs(ctx, api, created.ID)
	if err != nil {
		t.Fatalf("read the output of %s: %v", img, err)
	}
	return out, code
}

// CleanupDescendants removes, when the test ends, every image built on ref: the
// function images and the build stages' intermediate images the classic builder keeps as its
// cache (untagged children of the build image). ref itself stays.
func CleanupDescendants(t testing.TB, api client.APIClient, ref string) {
	t.Helper()
	ctx := context.Background()
	info, err := api.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	root := info.ID
	t.Cleanup(func() {
		all, err := api.ImageList(ctx, image.ListOptions{All: true})
		if err != nil {
			t.Errorf("list images: %v", err)
			return
		}
		parent := map[string]string{}
		for _, s := range all {
			parent[s.ID] = s.ParentID
		}
		depth := func(id string) int {
			for d := 0; id != "" && d < 1000; d++ {
				if id == root {
					return d
				}
				id = parent[id]
			}
			return -1
		}
		var doomed []string
		for id := range parent {
			if depth(id) > 0 {
				doomed = append(doomed, id)
			}
		}
		// Children before parents.
		sort.Slice(doomed, func(i, j int) bool { return depth(doomed[i]) > depth(doomed[j]) })
		for _, id := range doomed {
			if _, err := api.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("remove image %s built on %s: %v", id, ref, err)
			}
		}
	})
}

// JavaPackages make a Maven stand-in: Debian's maven, a JDK, the plugins a jar build and the
// Maven builder use, and one library (commons-lang3), all in Debian's offline repository
// /usr/share/maven-repo (no Maven Central here).
var JavaPackages = []string{
	"maven", "default-jdk-headless", "ca-certificates",
	"libmaven-clean-plugin-java", "libmaven-resources-plugin-java", "libmaven-compiler-plugin-java",
	"libmaven-jar-plugin-java", "libmaven-install-plugin-java", "libmaven-dependency-plugin-java",
	"libsurefire-java", "libcommons-lang3-java",
}
