package base

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/buildlock"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/matrix"
)

// MatrixSuite is the Debian release whose engine the engine matrix runs: Engine 28.5.
const MatrixSuite = "forky"

// MatrixImage is the image the engine matrix (internal/engine/matrix) runs: the DinD base of
// MatrixSuite (Debian packages only), built once by Ensure on the host engine and kept by tag.
// The tests' kit and the benchmark hand it to their matrix.Pool.
var MatrixImage = matrix.Image{
	Tag: TagFor(MatrixSuite),
	Ensure: func(ctx context.Context, host client.APIClient, progress io.Writer) (bool, error) {
		return Ensure(ctx, host, Options{Tag: TagFor(MatrixSuite), Suite: MatrixSuite, Progress: progress})
	},
}

// Options configure Ensure. The zero value builds DefaultTag.
type Options struct {
	Tag   string // image to build; default TagFor(Suite)
	Suite string // Debian release (one of Suites); default DefaultSuite
	Force bool   // rebuild even when Tag exists
	// Progress receives one line per phase and the timings (nil: quiet).
	Progress io.Writer
	// Verbose also streams debootstrap's and go's own output to Progress; otherwise only the
	// tail of it is shown, inside the error, when a step fails.
	Verbose bool
	// CacheDir holds the build locks (one per tag) and, for bookworm, the compiled compose
	// plugin; default os.UserCacheDir()/dindbundler.
	CacheDir string
	// Mirror overrides the Debian mirror read from the apt configuration.
	Mirror string
}

// Ensure makes sure the base image opts.Tag exists, building it when it does not (or when
// opts.Force): debootstrap (and, for bookworm, the compose compile side by side), then the
// root filesystem streams into the engine as one image. built reports whether it built.
func Ensure(ctx context.Context, api client.APIClient, opts Options) (built bool, err error) {
	tag := opts.Tag
	if tag == "" {
		suite := opts.Suite
		if suite == "" {
			suite = DefaultSuite
		}
		tag = TagFor(suite)
	}
	oldID, err := imageID(ctx, api, tag)
	if err != nil {
		return false, err
	}
	if oldID != "" && !opts.Force {
		return false, nil
	}
	cacheDir, err := cacheDir(opts.CacheDir)
	if err != nil {
		return false, fmt.Errorf("build base image %s: %w", tag, err)
	}
	sources, err := ReadAptSources("/")
	if err != nil && opts.Mirror == "" {
		return false, fmt.Errorf("build base image %s: %w", tag, err)
	}
	plan, err := NewPlan(opts, sources, cacheDir, runtime.GOARCH)
	if err != nil {
		return false, err
	}
	if err := preflight(plan); err != nil {
		return false, fmt.Errorf("build base image %s: %w", tag, err)
	}

	// Two builds of this tag at once (a mage run and a test, or the test run's prewarm) would
	// each debootstrap: the second waits for the first's lock and then finds the image. Other
	// suites have locks of their own and build meanwhile.
	built, err = buildlock.EnsureImage(ctx, buildlock.Image{
		Tag: tag,
		Dir: filepath.Join(cacheDir, "image-locks"),
		Have: func(ctx context.Context) (bool, error) {
			if opts.Force {
				return false, nil
			}
			id, err := imageID(ctx, api, tag)
			return id != "", err
		},
		Build: func(ctx context.Context) error { return build(ctx, api, plan, opts) },
	}, buildlock.Options{Log: opts.Progress, Report: time.Minute})
	if err != nil || !built {
		return false, err
	}
	// A forced rebuild leaves the old image untagged; remove it unless something (a bundle
	// built FROM it, a container) still uses it, which the engine refuses and we accept.
	if oldID != "" {
		if id, err := imageID(ctx, api, tag); err == nil && id != oldID {
			_ = engine.RemoveUntagged(ctx, api, oldID)
		}
	}
	return true, nil
}

func build(ctx context.Context, api client.APIClient, plan Plan, opts Options) error {
	out := opts.Progress
	if out == nil {
		out = io.Discard
	}
	out = &syncWriter{w: out}
	var chatter io.Writer = io.Discard
	if opts.Verbose {
		chatter = out
	}
	start := time.Now()
	compose := "compose from packages"
	if plan.ComposeBinary != "" {
		compose = "compose " + plan.ComposeVersion + " compiled"
	}
	fmt.Fprintf(out, "dindbase: building %s (debootstrap %s from %s; %s)\n", plan.Tag, plan.Suite, plan.Mirror, compose)

	dir, err := os.MkdirTemp("", "dindbase-rootfs-")
	if err != nil {
		return fmt.Errorf("build base image %s: %w", plan.Tag, err)
	}
	defer func() {
		if err := removeRootfs(dir); err != nil {
			fmt.Fprintf(out, "dindbase: warning: %v\n", err)
		}
	}()

	// The compile is CPU-bound and debootstrap mostly waits on the network and dpkg, so they
	// overlap well; a failure of one cancels the other.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg                      sync.WaitGroup
		composeErr, debootErr   error
		composeTook, debootTook time.Duration
		composeCached           bool
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if plan.ComposeBinary == "" {
			return // the suite's docker-compose package is the plugin
		}
		t := time.Now()
		composeCached, composeErr = ensureCompose(ctx, plan, chatter)
		composeTook = time.Since(t)
		if composeErr != nil {
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		t := time.Now()
		debootErr = runTool(ctx, chatter, "", nil, "debootstrap", plan.DebootstrapArgs(dir)...)
		debootTook = time.Since(t)
		if debootErr != nil {
			cancel()
		}
	}()
	wg.Wait() // the results are read only after both goroutines are done
	// Report the failure that caused the other's cancellation, not the cancellation.
	if debootErr != nil && (composeErr == nil || !errors.Is(debootErr, context.Canceled)) {
		return fmt.Errorf("build base image %s: debootstrap %s from %s: %w", plan.Tag, plan.Suite, plan.Mirror, debootErr)
	}
	if composeErr != nil {
		return fmt.Errorf("build base image %s: %w", plan.Tag, composeErr)
	}
	if plan.ComposeBinary == "" {
		fmt.Fprintf(out, "dindbase: debootstrap took %s\n", round(debootTook))
	} else {
		how := "compiled"
		if composeCached {
			how = "cached"
		}
		fmt.Fprintf(out, "dindbase: debootstrap took %s; compose plugin %s in %s\n", round(debootTook), how, round(composeTook))
	}

	if err := finishRootfs(dir, plan); err != nil {
		return fmt.Errorf("build base image %s: %w", plan.Tag, err)
	}
	t := time.Now()
	id, err := importRootfs(ctx, api, dir, plan)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "dindbase: import took %s; built %s (%s) in %s\n", round(time.Since(t)), plan.Tag, shortID(id), round(time.Since(start)))
	return nil
}

// importRootfs imports the root filesystem in dir as the base image plan.Tag.
func importRootfs(ctx context.Context, api client.APIClient, dir string, plan Plan) (string, error) {
	id, err := ImportTree(ctx, api, dir, plan.Tag, plan.Changes)
	if err != nil {
		return "", fmt.Errorf("import base image: %w", err)
	}
	return id, nil
}

// ImportTree streams `tar -C dir -c .` straight into the engine as tag, with the Dockerfile
// changes given: no temporary archive of half a gigabyte on disk. GNU tar keeps device nodes,
// hard links and numeric owners as they are, which a hand-written walker would have to
// reproduce. It returns the image ID.
func ImportTree(ctx context.Context, api client.APIClient, dir, tag string, changes []string) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", dir, "-cf", "-", ".")
	var stderr bytes.Buffer
	tarCmd.Stderr = &stderr
	stdout, err := tarCmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("import %s: %w", tag, err)
	}
	if err := tarCmd.Start(); err != nil {
		return "", fmt.Errorf("import %s: start tar: %w", tag, err)
	}
	id, importErr := engine.Import(ctx, api, stdout, tag, changes)
	if importErr != nil {
		cancel() // stop tar if the engine gave up before reading everything
	}
	tarErr := tarCmd.Wait()
	if importErr != nil {
		return "", importErr
	}
	if tarErr != nil {
		// The engine took a truncated stream and tagged it: an image under the tag would pass
		// for built on the next run, so it goes.
		if rmErr := engine.Remove(context.WithoutCancel(ctx), api, tag); rmErr != nil {
			tarErr = fmt.Errorf("%w (and removing the partial image failed: %v)", tarErr, rmErr)
		}
		return "", fmt.Errorf("import %s: tar %s: %w: %s", tag, dir, tarErr, strings.TrimSpace(stderr.String()))
	}
	return id, nil
}

// finishRootfs installs the compiled compose plugin (when the suite needs one) and the
// iptables-legacy links and drops what debootstrap leaves behind.
func finishRootfs(dir string, plan Plan) error {
	if plan.ComposeBinary != "" {
		dest := filepath.Join(dir, ComposePluginPath)
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return fmt.Errorf("install compose plugin: %w", err)
		}
		if err := copyFile(plan.ComposeBinary, dest, 0o755); err != nil {
			return fmt.Errorf("install compose plugin: %w", err)
		}
	}
	for link, target := range IptablesLegacyLinks() {
		p := filepath.Join(dir, link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("link %s: %w", link, err)
		}
		if err := os.Symlink(target, p); err != nil {
			return fmt.Errorf("link %s: %w", link, err)
		}
	}
	return dropLeftovers(dir)
}

// dropLeftovers empties the Leftovers of the root filesystem in dir.
func dropLeftovers(dir string) error {
	for _, d := range Leftovers {
		entries, err := os.ReadDir(filepath.Join(dir, d))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clean %s: %w", d, err)
		}
		// Files only: apt expects its partial/ directories and lock files to stay.
		for _, e := range entries {
			if e.Type().IsRegular() && e.Name() != "lock" {
				if err := os.Remove(filepath.Join(dir, d, e.Name())); err != nil {
					return fmt.Errorf("clean %s: %w", d, err)
				}
			}
		}
	}
	return nil
}

// ensureCompose compiles the compose plugin into the cache unless it is there already.
func ensureCompose(ctx context.Context, plan Plan, chatter io.Writer) (cached bool, err error) {
	if fi, err := os.Stat(plan.ComposeBinary); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return true, nil
	}
	what := "compose " + plan.ComposeVersion
	var out bytes.Buffer
	dl := exec.CommandContext(ctx, "go", plan.ComposeDownloadArgs()...)
	// Outside any module, so the caller's go.mod and go.sum are neither read nor changed.
	dl.Dir = filepath.Dir(plan.ComposeBinary)
	if err := os.MkdirAll(dl.Dir, 0o755); err != nil {
		return false, fmt.Errorf("download %s: %w", what, err)
	}
	dl.Env = append(os.Environ(), plan.ComposeBuildEnv()...)
	dl.Stdout, dl.Stderr = &out, chatter
	runErr := dl.Run()
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &mod); err != nil || runErr != nil || mod.Error != "" || mod.Dir == "" {
		return false, fmt.Errorf("download %s (check network access to the Go module proxy): %v %s", what, errors.Join(runErr, err), mod.Error)
	}

	// go build refuses to overwrite a file that is not an executable, so it writes into a
	// fresh directory and the result is renamed into the cache only once complete.
	tmp, err := os.MkdirTemp(filepath.Dir(plan.ComposeBinary), ".build-")
	if err != nil {
		return false, fmt.Errorf("build %s: %w", what, err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "docker-compose")
	if err := runTool(ctx, chatter, mod.Dir, plan.ComposeBuildEnv(), "go", plan.ComposeBuildArgs(bin)...); err != nil {
		return false, fmt.Errorf("build %s: %w", what, err)
	}
	if err := os.Rename(bin, plan.ComposeBinary); err != nil {
		return false, fmt.Errorf("build %s: %w", what, err)
	}
	return false, nil
}

// runTool runs a command, streaming its output to chatter and keeping the last lines for the
// error, since a bare exit status says nothing about why debootstrap or go failed.
func runTool(ctx context.Context, chatter io.Writer, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	tail := &tailBuffer{max: 40}
	w := io.MultiWriter(chatter, tail)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w; last output:\n%s", name, err, tail)
	}
	return nil
}

// preflight checks for the tools a build needs before any slow work starts.
func preflight(plan Plan) error {
	if err := checkDebootstrap(); err != nil {
		return err
	}
	if _, err := os.Stat(DebootstrapScript); err != nil {
		return fmt.Errorf("debootstrap has no %s: install Debian's debootstrap package (`apt-get install debootstrap`) and retry", DebootstrapScript)
	}
	tools := []string{"tar"}
	if plan.ComposeBinary != "" {
		tools = append(tools, "go")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found in PATH: install it and retry", tool)
		}
	}
	return nil
}

// ReadAptSources reads the apt source files under root ("/" for this machine).
func ReadAptSources(root string) ([]Source, error) {
	names := []string{SourcesList}
	entries, err := os.ReadDir(filepath.Join(root, SourcesListDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, filepath.Join(SourcesListDir, e.Name()))
		}
	}
	var all []Source
	for _, name := range SourceFiles(names) {
		data, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read apt sources: %w", err)
		}
		s, err := Parse("/"+name, string(data))
		if err != nil {
			return nil, fmt.Errorf("read apt sources: %w", err)
		}
		all = append(all, s...)
	}
	return all, nil
}

func imageID(ctx context.Context, api client.APIClient, tag string) (string, error) {
	info, _, err := engine.Inspect(ctx, api, tag)
	if err != nil {
		return "", fmt.Errorf("base image: %w", err)
	}
	return info.ID, nil
}

func cacheDir(dir string) (string, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("find a cache directory (set Options.CacheDir): %w", err)
		}
		dir = filepath.Join(base, "dindbundler")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cache directory: %w", err)
	}
	return dir, nil
}

func copyFile(src, dest string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// removeRootfs deletes the temporary root filesystem. A debootstrap that failed half-way can
// leave /proc or /sys mounted inside it; those are detached first so RemoveAll never walks
// into the host's /proc or /sys.
func removeRootfs(dir string) error {
	if err := unmountUnder(dir); err != nil {
		return fmt.Errorf("remove %s: %w (remove it by hand after unmounting)", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// syncWriter lets the two concurrent builds share one progress writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	max   int
	lines []string
	part  string
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	s := t.part + string(p)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	t.lines = append(t.lines, parts[:len(parts)-1]...)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := strings.Join(t.lines, "\n")
	if t.part != "" {
		s += "\n" + t.part
	}
	return s
}

// EnsureDefault is the dindbase target: DefaultTag built through a client of its own unless it
// already exists, progress on progress.
func EnsureDefault(ctx context.Context, progress io.Writer, verbose bool) error {
	api, err := engine.New()
	if err != nil {
		return err
	}
	defer api.Close()
	_, err = Ensure(ctx, api, Options{Progress: progress, Verbose: verbose})
	return err
}
