// Package demo prepares the example stack in examples/demo for an offline build: it compiles the
// stack's Go programs into their build contexts and builds the images a registry would otherwise
// provide (stand-ins for the AWS Lambda base images, and the stack's "external" logs image).
// Work whose result is up to date is skipped: a binary newer than its sources, an image built
// from the same inputs. It owns those stand-ins and the demo target; the bundle itself is built
// by package pipeline. Shipped code must not import it.
package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/tarball"
	"github.com/dindbundler/dindbundler/producer/builders"
	"github.com/dindbundler/dindbundler/producer/embedded"
)

// Images Prepare builds.
const (
	// LogsImage is the logs service's image as built locally; tests push it to a registry under
	// the reference the compose file names.
	LogsImage = "dindbundler/example-logs:1.0"
	// DefaultLogsRef is the compose file's logs image when EXAMPLE_REGISTRY is unset.
	DefaultLogsRef = "127.0.0.1:5000/example/logs:1.0"
)

// StandIns maps each Lambda runtime the example uses to the local image standing in for its
// public base image. The Python and Node.js ones run their handlers (on RootfsTag's
// interpreters); the Java one has no JVM: it is bundled, and answers that it does not run Java.
var StandIns = map[string]string{
	"python3.12": "dindbundler/runtime-python:3.12",
	"nodejs20.x": "dindbundler/runtime-nodejs:20",
	"java21":     "dindbundler/runtime-java:21",
}

// OfflinePip are the mirror variables of the demo's pip builds: its build image's wheels only.
var OfflinePip = map[string]string{"PIP_FIND_LINKS": "/wheels", "PIP_NO_INDEX": "1"}

// BuildImages maps the runtimes whose functions need a build step to the local image standing
// in for AWS's sam/build-<runtime> image.
var BuildImages = map[string]string{
	"python3.12": "dindbundler/build-python:3.12",
}

// runsHandlers reports whether the stand-in of runtime runs its handlers, and so needs the
// Debian root filesystem with the interpreters under it.
func runsHandlers(runtime string) bool {
	return strings.HasPrefix(runtime, "python") || strings.HasPrefix(runtime, "nodejs")
}

// inputLabel records a digest of what an image was built from, so a rebuild is skipped only when
// nothing changed.
const inputLabel = "org.dindbundler.demo.inputs"

// program is one Go program of the stack, compiled into its build context.
type program struct {
	pkg string // directory under the example, holding main.go and the Dockerfile
	bin string // binary name inside that directory
}

var programs = []program{
	{"gateway", "gateway"},
	{"agent", "agent"},
	{"storage", "storage"},
	{"logs", "logs"},
	{"runtime", "lambda-entrypoint"},
}

// Options tunes PrepareWith.
type Options struct {
	// TagLogs also tags the logs image as DefaultLogsRef, so the stack finds it locally without a
	// registry.
	TagLogs bool
}

// Prepare readies the example stack in dir (examples/demo of this module) with default options
// and returns the variables that point the template's runtimes at the local stand-ins
// (RUNTIME_BASE_PYTHON3_12=dindbundler/lambda-python:3.12, …), to add to the producer's Vars.
func Prepare(ctx context.Context, api client.APIClient, dir string, progress io.Writer) (map[string]string, error) {
	return PrepareWith(ctx, api, dir, Options{}, progress)
}

// PrepareWith is Prepare with options.
func PrepareWith(ctx context.Context, api client.APIClient, dir string, opts Options, progress io.Writer) (map[string]string, error) {
	if progress == nil {
		progress = io.Discard
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("prepare demo: %w", err)
	}
	ver, err := engine.Version(ctx, api)
	if err != nil {
		return nil, fmt.Errorf("prepare demo: %w", err)
	}
	for _, p := range programs {
		if err := compile(ctx, dir, p, ver.Arch, progress); err != nil {
			return nil, err
		}
	}

	rootfs, _, err := EnsureRootfs(ctx, api, progress)
	if err != nil {
		return nil, err
	}
	runtimeFiles, err := contextFiles(filepath.Join(dir, "runtime"))
	if err != nil {
		return nil, fmt.Errorf("build the runtime stand-ins: %w", err)
	}
	env := map[string]string{}
	for _, r := range slices.Sorted(maps.Keys(StandIns)) {
		from := "scratch"
		if runsHandlers(r) {
			from = rootfs
		}
		err := ensureImage(ctx, api, StandIns[r], runtimeFiles, map[string]string{"RUNTIME": r, "BASE": from}, progress)
		if err != nil {
			return nil, err
		}
		env[embedded.RuntimeVariable(r)] = StandIns[r]
	}
	buildFiles, err := contextFiles(filepath.Join(dir, "build-python"))
	if err != nil {
		return nil, fmt.Errorf("build the Python build image: %w", err)
	}
	wheel, err := Wheel(filepath.Join(dir, "wheelhouse"), "demo_quotes", "1.0")
	if err != nil {
		return nil, err
	}
	buildFiles["demo_quotes-1.0-py3-none-any.whl"] = wheel
	for _, r := range slices.Sorted(maps.Keys(BuildImages)) {
		if err := ensureImage(ctx, api, BuildImages[r], buildFiles, map[string]string{"BASE": rootfs}, progress); err != nil {
			return nil, err
		}
		env[builders.ImageVariable(r)] = BuildImages[r]
	}
	// The demo's pip index is the wheel directory of its build image, offline: said as the
	// stack's pip mirror, so a PIP_FIND_LINKS of the caller's own (this machine's pip has one,
	// a path on the host) never reaches the build, where it would win over the image's ENV on
	// BuildKit. OfflinePip lists them; callers put them after the caller's environment.
	maps.Copy(env, OfflinePip)
	logsFiles, err := contextFiles(filepath.Join(dir, "logs"))
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", LogsImage, err)
	}
	if err := ensureImage(ctx, api, LogsImage, logsFiles, nil, progress); err != nil {
		return nil, err
	}
	if opts.TagLogs {
		if err := engine.Tag(ctx, api, LogsImage, DefaultLogsRef); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// compile builds p as a static linux binary for the engine's architecture into its directory,
// unless the binary is newer than every Go source it is made from. The binary is written under
// a temporary name and renamed, so an interrupted build leaves nothing that looks fresh.
func compile(ctx context.Context, dir string, p program, arch string, progress io.Writer) error {
	src := filepath.Join(dir, p.pkg)
	out := filepath.Join(src, p.bin)
	newest, err := newestSource(filepath.Join(dir, "internal"), src)
	if err != nil {
		return fmt.Errorf("compile %s: %w", p.pkg, err)
	}
	if fi, err := os.Stat(out); err == nil && fi.ModTime().After(newest) {
		return nil
	}
	start := time.Now()
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compile %s (go build in %s; the example must stay inside the dindbundler module): %w\n%s", p.pkg, src, err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compile %s: %w", p.pkg, err)
	}
	fmt.Fprintf(progress, "demo: compiled %s in %.1fs\n", out, time.Since(start).Seconds())
	return nil
}

// newestSource returns the newest modification time of the .go files under dirs.
func newestSource(dirs ...string) (time.Time, error) {
	var newest time.Time
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() || !strings.HasSuffix(p, ".go") {
				return nil
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
			return nil
		})
		if err != nil {
			return time.Time{}, err
		}
	}
	return newest, nil
}

// ensureImage builds tag from a context of files (a Dockerfile, binaries, scripts) unless an
// image of that tag was built from the same inputs (recorded in a label).
func ensureImage(ctx context.Context, api client.APIClient, tag string, files map[string][]byte, args map[string]string, progress io.Writer) error {
	digest := inputsDigest(files, args)
	info, found, err := engine.Inspect(ctx, api, tag)
	switch {
	case err != nil:
		return err
	case found && info.Config != nil && info.Config.Labels[inputLabel] == digest:
		return nil
	}
	tarball, err := tarFiles(files)
	if err != nil {
		return fmt.Errorf("build %s: %w", tag, err)
	}
	start := time.Now()
	var out bytes.Buffer
	_, err = engine.Build(ctx, api, bytes.NewReader(tarball), engine.BuildOptions{
		Tag: tag, BuildArgs: args, Labels: map[string]string{inputLabel: digest},
	}, &out)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out.String())
	}
	fmt.Fprintf(progress, "demo: built %s in %.1fs\n", tag, time.Since(start).Seconds())
	return nil
}

// contextFiles reads the build context of a stand-in image: the Dockerfile, the compiled
// binary and the scripts beside it (the Go sources are not needed inside it).
func contextFiles(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".go") || strings.Contains(e.Name(), ".tmp-") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = data
	}
	if _, ok := files["Dockerfile"]; !ok {
		return nil, fmt.Errorf("no Dockerfile in %s", dir)
	}
	return files, nil
}

func inputsDigest(files map[string][]byte, args map[string]string) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "file %s %d\n", name, len(files[name]))
		h.Write(files[name])
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		fmt.Fprintf(h, "arg %s=%s\n", k, args[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func tarFiles(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tarball.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		mode := int64(0o644)
		if !strings.Contains(name, ".") {
			mode = 0o755 // the binaries
		}
		if err := tw.File(name, mode, files[name]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
