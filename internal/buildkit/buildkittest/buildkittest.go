// Package buildkittest gives tests standalone buildkitds: a binary built from the
// github.com/moby/buildkit version go.mod pins (no registry ships one here, and Debian packages
// none), cached by version in the user's cache directory, and daemons of it on unix sockets,
// each with a state directory of its own, that a test may kill mid-build.
//
// It is a test kit: it imports `testing` and must never be imported by shipped code.
package buildkittest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/buildkit/buildkitd"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/registry/registrytest"
)

// BinaryVariable names a buildkitd binary to use instead of the one Binary builds.
const BinaryVariable = "DINDBUNDLER_BUILDKITD"

// module is the Go module buildkitd is built from, at the version go.mod requires.
const module = "github.com/moby/buildkit"

// Binary returns the path of a buildkitd: DINDBUNDLER_BUILDKITD, else one built (CGO_ENABLED=0)
// from the module's source in the module cache, at the version go.mod pins, kept in
// <user cache>/dindbundler/buildkitd-<version> for later runs. A lock file makes test packages
// running at once build it once. Its OCI worker runs steps with runc, which must be installed
// (scripts/with-docker installs it), and root. Skipped with DINDBUNDLER_SKIP_DOCKER=1, or
// without runc or root outside CI; under CI=true (whose scripts install runc and run as root)
// those fail instead, so CI cannot pass by skipping.
func Binary(t testing.TB) string {
	t.Helper()
	enginetest.SkipWithoutDocker(t)
	missing := ""
	if _, err := exec.LookPath("runc"); err != nil {
		missing = "runc, which is not installed (apt-get install runc; scripts/with-docker installs it)"
	} else if os.Geteuid() != 0 {
		missing = "root (a rootless buildkitd needs rootlesskit, which this kit does not run)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("buildkitd's OCI worker needs " + missing + "; CI=true: tests must run, not skip")
		}
		t.Skip("buildkitd's OCI worker needs " + missing)
	}
	if bin := os.Getenv(BinaryVariable); bin != "" {
		return bin
	}
	return command(t, "buildkitd")
}

// Buildctl returns the path of a buildctl built and kept as Binary's buildkitd is: an ssh://
// BUILDKIT_HOST runs `buildctl dial-stdio` on the remote side.
func Buildctl(t testing.TB) string {
	t.Helper()
	enginetest.SkipWithoutDocker(t)
	return command(t, "buildctl")
}

var (
	mu    sync.Mutex
	built = map[string]string{} // by command, once per test binary
)

// command builds the module's cmd/<name> once per test binary, and once per version across
// them.
func command(t testing.TB, name string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := built[name]; ok {
		return bin
	}
	bin, err := Build(name)
	if err != nil {
		t.Fatalf("build %s from %s (or set %s to a buildkitd binary): %v", name, module, BinaryVariable, err)
	}
	built[name] = bin
	return bin
}

// Build builds the module's cmd/<name> (buildkitd, buildctl) at the version go.mod requires, run
// from this module's directory, unless a process built it before: the path of the binary kept in
// the user cache. dev/prewarm calls it before the tests need it.
func Build(name string) (string, error) {
	version, err := goOutput("", "list", "-m", "-f", "{{.Version}}", module)
	if err != nil {
		return "", fmt.Errorf("find the version go.mod requires: %w", err)
	}
	version = strings.TrimSpace(version)
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "dindbundler")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name+"-"+version)
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	// Held until the binary is in place: another test package waits here, then finds it.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	out, err := goOutput("", "mod", "download", "-json", module+"@"+version)
	if err != nil {
		return "", fmt.Errorf("download %s@%s: %w", module, version, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("download %s@%s: no source directory in %q (%v %s)", module, version, out, err, mod.Error)
	}
	// Seen at once, not after the test: the first build is long, and go test's default
	// -timeout (10 min) may end it on a busy machine.
	fmt.Fprintf(os.Stderr, "buildkittest: building %s %s into %s (buildkitd: 3 min of CPU; 10 min seen on 2 busy cores: give go test -timeout 30m, or set %s)\n", name, version, bin, BinaryVariable)
	start := time.Now()
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	defer os.Remove(tmp)
	// Built in the module's own directory, with its own go.mod: the versions buildkit is
	// released with, not ours.
	if _, err := goOutput(mod.Dir, "build", "-trimpath", "-o", tmp, "./cmd/"+name); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "buildkittest: built %s in %s\n", bin, time.Since(start).Round(time.Second))
	return bin, nil
}

// goOutput runs the go command in dir ("" the current one) and returns its standard output.
func goOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// The module cache is read-only and buildkit ships no vendor directory: no flag of the
	// caller's (-mod=vendor, a workspace) may apply there.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Start runs bin (buildkitd.Start) with a state directory of its own on a unix socket until the
// test ends, and waits until it listens; extra flags go after the kit's (--config …). Its log is
// shown when the test fails.
func Start(t testing.TB, bin string, extra ...string) *buildkitd.Daemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "buildkitd-")
	if err != nil {
		t.Fatal(err)
	}
	log := &registrytest.SyncBuffer{}
	d, err := buildkitd.Start(bin, dir, log, append([]string{"--oci-worker-snapshotter=native"}, extra...)...)
	if d != nil {
		t.Cleanup(func() {
			if err := d.Stop(); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("buildkitd %s log:\n%s", d.Addr, log.String())
			}
		})
	} else {
		os.RemoveAll(dir)
	}
	if err != nil {
		t.Fatalf("%v:\n%s", err, log.String())
	}
	return d
}

// Sleeper returns a static program (built here, CGO_ENABLED=0) that sleeps as many seconds as
// its first argument says: copied into a scratch image, `RUN ["/sleep", "5"]` makes a slow step
// without a base image, which no registry here could serve.
func Sleeper(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	src := `package main

import (
	"os"
	"strconv"
	"time"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	time.Sleep(time.Duration(n) * time.Second)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module sleeper\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sleep")
	if _, err := goOutput(dir, "build", "-o", bin, "."); err != nil {
		t.Fatal(err)
	}
	return bin
}
