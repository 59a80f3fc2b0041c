// Package registrybin builds the registry binary the bundle carries (cmd/dindbundler-registry) for
// the DinD base's platform, with the Go toolchain the run already needs, and keeps it in the cache
// directory under a key of what it is built from: the source files of every package of this
// module it depends on, the versions of the other modules, the Go version and the platform. A
// second build with the same key costs one `go list`.
//
// It runs the go command only; it must not talk to the engine nor know the bundle's layout.
package registrybin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/internal/fresh"
)

// Module is this module's path: its directory is found through the go command, so the build
// works from this repository and from a project that imports our targets alike.
const Module = "github.com/dindbundler/dindbundler"

// Package is the registry command's import path.
const Package = Module + "/cmd/dindbundler-registry"

// Name is the binary's file name, in the cache and in the bundle.
const Name = "dindbundler-registry"

// Platform is what the binary is built for: the base image's architecture as the engine reports
// it (GOARCH names) and its variant (arm's v6/v7).
type Platform struct {
	Arch    string
	Variant string
}

// env is the go command's environment for the platform: a static binary.
func (p Platform) env() ([]string, error) {
	if p.Arch == "" {
		return nil, errors.New("the base image reports no architecture")
	}
	env := []string{"GOOS=linux", "GOARCH=" + p.Arch, "CGO_ENABLED=0"}
	if p.Arch == "arm" && p.Variant != "" {
		env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	return env, nil
}

// buildFlags are the go build flags; part of the key.
var buildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// Request says what to build and where to keep it.
type Request struct {
	// Package to build; default Package (tests build a smaller one).
	Package string
	// WorkDir is where the go command resolves Module (the project's directory).
	WorkDir  string
	CacheDir string // the binaries are kept under CacheDir/registry-bin/<key>/
	Platform Platform
	Logf     func(format string, args ...any)
}

// Binary is a built (or cached) registry binary.
type Binary struct {
	Path string
	Key  string // hex sha256 of its inputs; the bundle's freshness includes it
}

// Ensure returns the binary for r, building it when the cache lacks its key: nothing is printed
// then, one line when it is built.
func Ensure(ctx context.Context, r Request) (Binary, error) {
	if r.Package == "" {
		r.Package = Package
	}
	env, err := r.Platform.env()
	if err != nil {
		return Binary{}, fmt.Errorf("build %s: %w", Name, err)
	}
	dir, err := moduleDir(ctx, r.WorkDir)
	if err != nil {
		return Binary{}, fmt.Errorf("build %s: %w", Name, err)
	}
	version, err := goOutput(ctx, dir, env, "env", "GOVERSION")
	if err != nil {
		return Binary{}, fmt.Errorf("build %s: %w", Name, err)
	}
	listing, err := goOutput(ctx, dir, env, "list", "-deps", "-f", listFormat, r.Package)
	if err != nil {
		return Binary{}, fmt.Errorf("build %s: list its packages: %w", Name, err)
	}
	pkgs, err := parseList(listing)
	if err != nil {
		return Binary{}, fmt.Errorf("build %s: %w", Name, err)
	}
	key, err := Key(strings.TrimSpace(version), env, pkgs)
	if err != nil {
		return Binary{}, fmt.Errorf("build %s: %w", Name, err)
	}
	out := filepath.Join(r.CacheDir, "registry-bin", key, Name)
	if info, err := os.Stat(out); err == nil && info.Mode().IsRegular() {
		return Binary{Path: out, Key: key}, nil
	}
	started := time.Now()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return Binary{}, fmt.Errorf("build %s: %w", Name, err)
	}
	// Built into a temporary name next to it, then renamed: an interrupted build leaves nothing
	// that looks built.
	tmp := out + ".tmp"
	args := append([]string{"build"}, buildFlags...)
	args = append(args, "-o", tmp, r.Package)
	if _, err := goOutput(ctx, dir, env, args...); err != nil {
		os.Remove(tmp)
		return Binary{}, fmt.Errorf("build %s for linux/%s: %w", Name, r.Platform.Arch, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return Binary{}, fmt.Errorf("build %s: %w", Name, err)
	}
	if r.Logf != nil {
		r.Logf("built %s for linux/%s in %.1fs (%s)", Name, r.Platform.Arch, time.Since(started).Seconds(), out)
	}
	return Binary{Path: out, Key: key}, nil
}

// moduleDir finds Module's source directory through the go command, from this process's
// working directory (mage runs in the module whose magefile imports our targets, or in ours),
// else from workDir (the project's), else from the directory this file was compiled from:
// `go run magefile.go -w /elsewhere` runs the targets in a project outside any module that
// requires ours, from a binary built in our source tree.
func moduleDir(ctx context.Context, workDir string) (string, error) {
	var firstErr error
	dirs := []string{"", workDir}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dirs = append(dirs, filepath.Dir(file))
	}
	for _, dir := range dirs {
		out, err := goOutput(ctx, dir, nil, "list", "-m", "-f", "{{.Dir}}", Module)
		if err == nil && strings.TrimSpace(out) != "" {
			return strings.TrimSpace(out), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", fmt.Errorf("locate the source of %s (run from a Go module that requires it): %w", Module, firstErr)
}

// listFormat prints one line per non-standard package: import path, directory, module@version
// ("" for this module or a replaced one), Go files and embedded files, tab-separated.
const listFormat = `{{if not .Standard}}{{.ImportPath}}	{{.Dir}}	{{with .Module}}{{if and .Version (not .Replace)}}{{.Path}}@{{.Version}}{{end}}{{end}}	{{join .GoFiles ","}}	{{join .EmbedFiles ","}}{{end}}`

// Pkg is one package the binary is built from.
type Pkg struct {
	ImportPath string
	Dir        string
	// Version is module@version for a package of a versioned module (its files are the module
	// cache's, fixed by the version); "" for this module's own, whose files are read.
	Version string
	Files   []string // Go and embedded files, relative to Dir
}

func parseList(out string) ([]Pkg, error) {
	var pkgs []Pkg
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("go list printed an unexpected line: %q", line)
		}
		p := Pkg{ImportPath: f[0], Dir: f[1], Version: f[2]}
		for _, list := range f[3:] {
			if list != "" {
				p.Files = append(p.Files, strings.Split(list, ",")...)
			}
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, sc.Err()
}

// Key identifies a build: the Go version, the go command's environment and flags, and every
// package — by module version, or by the content of its files for this module's own.
func Key(goVersion string, env []string, pkgs []Pkg) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "go %s\nenv %q\nflags %q\n", goVersion, env, buildFlags)
	sorted := append([]Pkg{}, pkgs...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a].ImportPath < sorted[b].ImportPath })
	for _, p := range sorted {
		if p.Version != "" {
			fmt.Fprintf(h, "pkg %s %s\n", p.ImportPath, p.Version)
			continue
		}
		fmt.Fprintf(h, "pkg %s\n", p.ImportPath)
		files := append([]string{}, p.Files...)
		sort.Strings(files)
		for _, f := range files {
			sum, err := fresh.HashFile(filepath.Join(p.Dir, f))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "file %s %s\n", f, sum)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goOutput runs the go command in dir with env added to this process's environment and returns
// its standard output; its error output is in the error.
func goOutput(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
