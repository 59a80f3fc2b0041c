package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind/base"
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
func RootfsTag() string { return DebianTag("dindbundler/demo-rootfs", RootfsPackages) }

// DebianTag names the Debian image of packages in repo by its package list (RootfsTag's rule).
func DebianTag(repo string, packages []string) string {
	sum := sha256.Sum256([]byte(rootfsSuite + "|" + strings.Join(packages, ",") + "|v1"))
	return repo + ":" + hex.EncodeToString(sum[:6])
}

// ensureRootfs builds RootfsTag unless the engine has it (EnsureDebian).
func ensureRootfs(ctx context.Context, api client.APIClient, progress io.Writer) (string, error) {
	return EnsureDebian(ctx, api, RootfsTag(), RootfsPackages, progress)
}

// EnsureDebian builds tag, a Debian image of packages, with debootstrap unless the engine has
// it: minbase, then apt in a chroot (debootstrap's own resolver stops at virtual packages), then
// the tree streams into the engine as one layer. It needs root and debootstrap, as the DinD base
// does. The benchmark's Node build image is one (nodejs and npm).
func EnsureDebian(ctx context.Context, api client.APIClient, tag string, packages []string, progress io.Writer) (string, error) {
	_, found, err := engine.Inspect(ctx, api, tag)
	if err != nil || found {
		return tag, err
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", errors.New("build the runtime stand-ins' root filesystem: debootstrap not found: install it with `apt-get install debootstrap` (as root; scripts/with-docker does) and retry")
	}
	sources, err := base.ReadAptSources("/")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", tag, err)
	}
	mirror, err := base.PickMirror(sources, rootfsSuite)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", tag, err)
	}
	dir, err := os.MkdirTemp("", "demo-rootfs-")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", tag, err)
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	fmt.Fprintf(progress, "demo: building %s (debootstrap %s: %s), about a minute, once\n", tag, rootfsSuite, strings.Join(packages, " "))
	steps := [][]string{
		{"debootstrap", "--variant=minbase", rootfsSuite, dir, mirror},
		{"chroot", dir, "apt-get", "-o", "Acquire::Check-Valid-Until=false", "update", "-q"},
		append([]string{"chroot", dir, "apt-get", "install", "-y", "-q", "--no-install-recommends"}, packages...),
	}
	for i, step := range steps {
		if i == 1 {
			// apt inside the chroot resolves the mirror's name with the host's resolver.
			if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
				if err := os.WriteFile(filepath.Join(dir, "etc/resolv.conf"), data, 0o644); err != nil {
					return "", fmt.Errorf("build %s: %w", tag, err)
				}
			}
		}
		if err := runQuiet(ctx, step...); err != nil {
			return "", fmt.Errorf("build %s: %w", tag, err)
		}
	}
	// Debian's pip refuses to install outside a virtual environment (PEP 668); AWS's build
	// images have no such marker, and the builders install into a target directory.
	marks, _ := filepath.Glob(filepath.Join(dir, "usr/lib/python3*/EXTERNALLY-MANAGED"))
	for _, m := range marks {
		if err := os.Remove(m); err != nil {
			return "", fmt.Errorf("build %s: %w", tag, err)
		}
	}
	for _, d := range base.Leftovers {
		entries, _ := os.ReadDir(filepath.Join(dir, d))
		for _, e := range entries {
			if e.Type().IsRegular() && e.Name() != "lock" {
				_ = os.Remove(filepath.Join(dir, d, e.Name()))
			}
		}
	}
	if _, err := base.ImportTree(ctx, api, dir, tag, []string{
		`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
		`CMD ["/bin/sh"]`,
	}); err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "demo: built %s in %.0fs\n", tag, time.Since(start).Seconds())
	return tag, nil
}

// runQuiet runs a command and returns its last output lines with the error: a bare exit
// status says nothing about why debootstrap or apt failed.
func runQuiet(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		return fmt.Errorf("%s: %w; last output:\n%s", strings.Join(args[:min(len(args), 3)], " "), err, strings.Join(lines, "\n"))
	}
	return nil
}
