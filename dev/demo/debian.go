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
func RootfsTag() string {
	sum := sha256.Sum256([]byte(rootfsSuite + "|" + strings.Join(RootfsPackages, ",") + "|v1"))
	return "dindbundler/demo-rootfs:" + hex.EncodeToString(sum[:6])
}

// EnsureRootfs builds RootfsTag with debootstrap unless the engine has it: minbase, then apt in
// a chroot (debootstrap's own resolver stops at virtual packages), then the tree streams into
// the engine as one layer. It needs root and debootstrap, as the DinD base does. Two processes
// wanting it at once (the test run's prewarm and a test) build it once: the second waits for
// the tag's lock and finds the image. built reports whether this call built it.
func EnsureRootfs(ctx context.Context, api client.APIClient, progress io.Writer) (tag string, built bool, err error) {
	tag = RootfsTag()
	built, err = buildlock.EnsureImage(ctx, buildlock.Image{
		Tag: tag,
		Have: func(ctx context.Context) (bool, error) {
			_, found, err := engine.Inspect(ctx, api, tag)
			return found, err
		},
		Build: func(ctx context.Context) error { return buildRootfs(ctx, api, tag, progress) },
	}, buildlock.Options{Log: progress, Report: time.Minute})
	if err != nil {
		return "", false, err
	}
	return tag, built, nil
}

func buildRootfs(ctx context.Context, api client.APIClient, tag string, progress io.Writer) error {
	start := time.Now()
	fmt.Fprintf(progress, "demo: building %s (debootstrap %s: %s), about two minutes, once\n", tag, rootfsSuite, strings.Join(RootfsPackages, " "))
	if err := base.BuildDebian(ctx, api, base.DebianImage{
		Tag: tag, Suite: rootfsSuite, Packages: RootfsPackages,
		Changes: []string{`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, `CMD ["/bin/sh"]`},
	}); err != nil {
		return fmt.Errorf("build the runtime stand-ins' root filesystem: %w (scripts/with-docker installs debootstrap)", err)
	}
	fmt.Fprintf(progress, "demo: built %s in %.0fs\n", tag, time.Since(start).Seconds())
	return nil
}
