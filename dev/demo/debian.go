package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/buildlock"
	"github.com/dindbundler/dindbundler/internal/engine"
)

// RootfsPackages are the Debian packages of the root filesystem under the runtime stand-ins:
// the interpreters the handlers run on (python3, nodejs) and pip, which the Python build image
// calls. One root filesystem for all of them, so the bundle stores its layer once.
var RootfsPackages = []string{"python3", "python3-pip", "nodejs", "ca-certificates"}

// rootfsSuite is the Debian release the root filesystem comes from.
const rootfsSuite = "bookworm"

// RootfsTag is the Debian image the runtime stand-ins are built FROM, named by its package
// list so a change of the list builds a new one and an unchanged list is never rebuilt.
func RootfsTag() string { return debianTag(rootfsRepo, RootfsPackages) }

// rootfsRepo is the repository of the runtime stand-ins' root filesystem.
const rootfsRepo = "dindbundler/demo-rootfs"

// debianTag names the Debian image of packages in repo by its package list, so a changed list
// builds a new image and an unchanged one is never rebuilt.
func debianTag(repo string, packages []string) string {
	sum := sha256.Sum256([]byte(rootfsSuite + "|" + strings.Join(packages, ",") + "|v1"))
	return repo + ":" + hex.EncodeToString(sum[:6])
}

// EnsureRootfs builds RootfsTag unless the engine has it (EnsureDebian). built reports whether
// this call built it.
func EnsureRootfs(ctx context.Context, api client.APIClient, progress io.Writer) (tag string, built bool, err error) {
	return EnsureDebian(ctx, api, rootfsRepo, RootfsPackages, progress)
}

// EnsureDebian builds the Debian image of packages in repo (tagged by the list) with debootstrap
// unless the engine has it: minbase, then apt in a chroot (debootstrap's own resolver stops at virtual packages), then
// the tree streams into the engine as one layer. It needs root and debootstrap, as the DinD base
// does. Two processes wanting it at once (the test run's prewarm and a test) build it once: the
// second waits for the tag's lock and finds the image. The benchmark's Node build image is one
// (nodejs and npm).
func EnsureDebian(ctx context.Context, api client.APIClient, repo string, packages []string, progress io.Writer) (tag string, built bool, err error) {
	tag = debianTag(repo, packages)
	built, err = buildlock.EnsureImage(ctx, buildlock.Image{
		Tag: tag,
		Have: func(ctx context.Context) (bool, error) {
			_, found, err := engine.Inspect(ctx, api, tag)
			return found, err
		},
		Build: func(ctx context.Context) error { return buildDebian(ctx, api, tag, packages, progress) },
	}, buildlock.Options{Log: progress, Report: time.Minute})
	if err != nil {
		return "", false, err
	}
	return tag, built, nil
}

func buildDebian(ctx context.Context, api client.APIClient, tag string, packages []string, progress io.Writer) error {
	start := time.Now()
	fmt.Fprintf(progress, "demo: building %s (debootstrap %s: %s), about two minutes, once\n", tag, rootfsSuite, strings.Join(packages, " "))
	if err := base.BuildDebian(ctx, api, base.DebianImage{
		Tag: tag, Suite: rootfsSuite, Packages: packages,
		Changes: []string{`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, `CMD ["/bin/sh"]`},
	}); err != nil {
		return fmt.Errorf("build %s: %w (scripts/with-docker installs debootstrap)", tag, err)
	}
	fmt.Fprintf(progress, "demo: built %s in %.0fs\n", tag, time.Since(start).Seconds())
	return nil
}
