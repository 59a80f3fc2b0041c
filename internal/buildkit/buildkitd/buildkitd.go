// Package buildkitd runs a standalone buildkitd on a unix socket with a state directory of its
// own, and stops it leaving nothing behind: the tests' daemons (buildkittest) and the
// benchmark's (dev/bench) are started and stopped the same way. Nothing shipped imports it.
package buildkitd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Daemon is a running buildkitd.
type Daemon struct {
	// Addr is its BUILDKIT_HOST address: unix://<socket>.
	Addr string
	dir  string
	cmd  *exec.Cmd
}

// Start runs bin with its state under dir (made if missing) and its socket there, output to log,
// extra flags after the project's (--oci-worker-snapshotter, --config …), and waits up to 30 s
// until it listens. A Daemon is returned with the error when it started but did not listen:
// Stop it.
func Start(bin, dir string, log io.Writer, extra ...string) (*Daemon, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("buildkitd: make its state directory: %w", err)
	}
	sock := filepath.Join(dir, "buildkitd.sock")
	d := &Daemon{Addr: "unix://" + sock, dir: dir}
	args := append([]string{"--root", filepath.Join(dir, "root"), "--addr", d.Addr,
		"--oci-worker=true", "--containerd-worker=false"}, extra...)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("buildkitd: start %s: %w", bin, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return d, nil
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("buildkitd did not listen on %s within 30 s", sock)
		}
	}
}

// Kill ends the daemon at once (SIGKILL), as a builder that disappears mid-run.
func (d *Daemon) Kill() error { return d.cmd.Process.Kill() }

// Stop ends the daemon (SIGTERM), then what it left: runc's step processes, which may outlive a
// killed daemon (they are in its process group), the mounts of its running steps' root file
// systems, and its state directory.
func (d *Daemon) Stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	_ = d.cmd.Wait()
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	err := unmountUnder(d.dir)
	if rmErr := os.RemoveAll(d.dir); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	if err != nil {
		return fmt.Errorf("clean up buildkitd's state %s: %w", d.dir, err)
	}
	return nil
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		// mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT …; the mount point escapes spaces as \040.
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
