package base

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/docker/docker/client"
)

// ErrCannotDebootstrap marks a machine where no Debian root filesystem can be built (debootstrap
// missing, not root): callers that can do without the image (tests) skip.
var ErrCannotDebootstrap = errors.New("cannot run debootstrap here")

// checkDebootstrap says what to do when debootstrap cannot run here.
func checkDebootstrap() error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("%w: debootstrap not found: install it with `apt-get install debootstrap` (as root) and retry", ErrCannotDebootstrap)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: debootstrap must run as root: rerun as root (e.g. with sudo)", ErrCannotDebootstrap)
	}
	return nil
}

// DebianImage is an image of Debian packages alone, standing in for an image no registry serves
// here (the demo's runtimes, the builders' build images). It is not a DinD base: no engine, no
// labels, nothing of the bundle.
type DebianImage struct {
	Tag   string
	Suite string
	// Packages are installed by apt in a chroot on top of minbase: debootstrap's own resolver
	// stops at virtual packages (npm's dependencies are provided by other node-* packages).
	Packages []string
	// Changes are the Dockerfile instructions of the import (ENV, CMD).
	Changes []string
	// Verbose streams debootstrap's and apt's output here; on failure the last lines are in
	// the error either way.
	Verbose io.Writer
}

// BuildDebian builds img: debootstrap minbase from the mirror apt is configured with, apt
// installs img.Packages in a chroot (with /proc mounted: a JDK's postinst runs java), Debian's
// PEP 668 marker is removed (AWS's build images have none, and the builders pip-install into a
// target directory), the downloaded packages and lists are dropped, and the tree streams into
// the engine as one layer. It needs root and debootstrap (ErrCannotDebootstrap otherwise).
func BuildDebian(ctx context.Context, api client.APIClient, img DebianImage) error {
	if err := checkDebootstrap(); err != nil {
		return fmt.Errorf("build %s: %w", img.Tag, err)
	}
	sources, err := ReadAptSources("/")
	if err != nil {
		return fmt.Errorf("build %s: %w", img.Tag, err)
	}
	mirror, err := PickMirror(sources, img.Suite)
	if err != nil {
		return fmt.Errorf("build %s: %w", img.Tag, err)
	}
	dir, err := os.MkdirTemp("", "debian-image-")
	if err != nil {
		return fmt.Errorf("build %s: %w", img.Tag, err)
	}
	defer func() { _ = removeRootfs(dir) }() // unmounts what a failed step left mounted first
	chatter := img.Verbose
	if chatter == nil {
		chatter = io.Discard
	}
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	run := func(name string, args ...string) error {
		if err := runTool(ctx, chatter, "", env, name, args...); err != nil {
			return fmt.Errorf("build %s: %w", img.Tag, err)
		}
		return nil
	}
	if err := run("debootstrap", "--variant=minbase", img.Suite, dir, mirror); err != nil {
		return err
	}
	// apt inside the chroot resolves the mirror's name with the host's resolver.
	if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "etc/resolv.conf"), data, 0o644); err != nil {
			return fmt.Errorf("build %s: %w", img.Tag, err)
		}
	}
	if err := run("chroot", dir, "apt-get", "-o", "Acquire::Check-Valid-Until=false", "update", "-q"); err != nil {
		return err
	}
	proc := filepath.Join(dir, "proc")
	if err := run("mount", "-t", "proc", "proc", proc); err != nil {
		return err
	}
	installErr := run("chroot", append([]string{dir, "apt-get", "install", "-y", "-q", "--no-install-recommends"}, img.Packages...)...)
	// Unmounted whatever happened: the import must not read the host's processes.
	if err := exec.Command("umount", proc).Run(); err != nil {
		return fmt.Errorf("build %s: umount %s: %w (unmount it by hand, then remove %s)", img.Tag, proc, err, dir)
	}
	if installErr != nil {
		return installErr
	}
	marks, _ := filepath.Glob(filepath.Join(dir, "usr/lib/python3*/EXTERNALLY-MANAGED"))
	for _, m := range marks {
		if err := os.Remove(m); err != nil {
			return fmt.Errorf("build %s: %w", img.Tag, err)
		}
	}
	if err := dropLeftovers(dir); err != nil {
		return fmt.Errorf("build %s: %w", img.Tag, err)
	}
	_, err = ImportTree(ctx, api, dir, img.Tag, img.Changes)
	return err
}
