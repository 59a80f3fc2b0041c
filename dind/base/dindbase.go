package base

import (
	"bytes"
	"context"
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
var MatrixImage = matrixImage(MatrixSuite)

// MatrixImages are the images of the matrix's other engine releases, by matrix.Flavour.Engine:
// Engine 26.1 is the default base (DefaultSuite, trixie). The tests' kit and the benchmark hand
// them to their matrix.Pool with MatrixImage.
var MatrixImages = map[string]matrix.Image{matrix.Engine26: matrixImage(DefaultSuite)}

func matrixImage(suite string) matrix.Image {
	return matrix.Image{
		Tag: TagFor(suite),
		Ensure: func(ctx context.Context, host client.APIClient, progress io.Writer) (bool, error) {
			return Ensure(ctx, host, Options{Tag: TagFor(suite), Suite: suite, Progress: progress})
		},
	}
}

// Options configure Ensure. The zero value builds DefaultTag.
type Options struct {
	Tag   string // image to build; default TagFor(Suite)
	Suite string // Debian release (one of Suites); default DefaultSuite
	Force bool   // rebuild even when Tag exists
	// Progress receives one line per phase and the timings (nil: quiet).
	Progress io.Writer
	// Verbose also streams debootstrap's and apt's own output to Progress; otherwise only the
	// tail of it is shown, inside the error, when a step fails.
	Verbose bool
	// CacheDir holds the build locks (one per tag) and, for bookworm, the compose plugin taken
	// from trixie's package with apt's private lists for it; default
	// os.UserCacheDir()/dindbundler.
	CacheDir string
	// Mirror overrides the Debian mirror read from the apt configuration.
	Mirror string
}

// Ensure makes sure the base image opts.Tag exists, building it when it does not (or when
// opts.Force): debootstrap (and, for bookworm, the download of trixie's compose plugin side by
// side), then the root filesystem streams into the engine as one image. built reports whether
// it built.
func Ensure(ctx context.Context, api client.APIClient, opts Options) (built bool, err error) {
	tag := opts.Tag
	if tag == "" {
		suite := opts.Suite
		if suite == "" {
			suite = DefaultSuite
		}
		tag = TagFor(suite)
	}
	suiteName := opts.Suite
	if suiteName == "" {
		suiteName = DefaultSuite
	}
	suite, err := LookupSuite(suiteName)
	if err != nil {
		return false, fmt.Errorf("build base image %s: %w", tag, err)
	}
	old, err := current(ctx, api, tag, suite)
	if err != nil {
		return false, err
	}
	oldID := old.id
	if old.outdated && !opts.Force {
		fmt.Fprintf(progressOf(opts), "dindbase: %s was built by an older recipe (%s %q, now %q): building it again\n",
			tag, RecipeLabel, old.recipe, Recipe(suite))
		opts.Force = true
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
			// Another run may have rebuilt it meanwhile (the lock's waiters ask again).
			c, err := current(ctx, api, tag, suite)
			return c.id != "" && !c.outdated, err
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
	if plan.Compose != nil {
		compose = "compose plugin from Debian " + plan.Compose.Suite + "'s " + plan.Compose.Package
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

	// Both wait mostly on the network, so they overlap; a failure of one cancels the other.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg                      sync.WaitGroup
		composeErr, debootErr   error
		composeTook, debootTook time.Duration
		plugin                  composePlugin
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if plan.Compose == nil {
			return // the suite's docker-compose package is the plugin
		}
		t := time.Now()
		plugin, composeErr = fetchCompose(ctx, *plan.Compose, out, chatter)
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
	if plan.Compose == nil {
		fmt.Fprintf(out, "dindbase: debootstrap took %s\n", round(debootTook))
	} else {
		how := "downloaded"
		if plugin.cached {
			how = "cached"
		}
		fmt.Fprintf(out, "dindbase: debootstrap took %s; compose plugin %s %s in %s\n", round(debootTook), plugin.version, how, round(composeTook))
	}

	if err := finishRootfs(dir, plugin.path); err != nil {
		return fmt.Errorf("build base image %s: %w", plan.Tag, err)
	}
	if plan.Compose != nil {
		version, err := checkCompose(ctx, dir)
		if err != nil {
			return fmt.Errorf("build base image %s: %w", plan.Tag, err)
		}
		fmt.Fprintf(out, "dindbase: %s runs in the %s root filesystem: %s\n", ComposePluginPath, plan.Suite, version)
	}
	t := time.Now()
	id, err := ImportTree(ctx, api, dir, plan.Tag, plan.ImportChanges(plugin.version))
	if err != nil {
		return fmt.Errorf("import base image: %w", err)
	}
	fmt.Fprintf(out, "dindbase: import took %s; built %s (%s) in %s\n", round(time.Since(t)), plan.Tag, shortID(id), round(time.Since(start)))
	return nil
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

// finishRootfs installs the compose plugin fetched from another suite (plugin, "" when the
// suite's packages brought it) and the iptables-legacy links and drops what debootstrap
// leaves behind.
func finishRootfs(dir, plugin string) error {
	if plugin != "" {
		dest := filepath.Join(dir, ComposePluginPath)
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return fmt.Errorf("install compose plugin %s: %w", plugin, err)
		}
		if err := copyFile(plugin, dest, 0o755); err != nil {
			return fmt.Errorf("install compose plugin %s: %w", plugin, err)
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

// composePlugin is the plugin fetchCompose left in the cache.
type composePlugin struct {
	path    string
	version string // the Debian package's version
	cached  bool   // found in the cache, not downloaded
}

// fetchCompose puts the plugin of the package's current version into the cache unless it is
// there: under the cache's lock (two builds of different tags share it), apt with its private
// configuration refreshes the suite's lists, names the candidate's version and, when that
// version's plugin is missing, downloads the package (verified against the signed index), whose
// plugin dpkg-deb extracts; the plugin is renamed into place only once complete. A wait for
// the lock is said on out, apt's own output goes to chatter.
func fetchCompose(ctx context.Context, c ComposeFetch, out, chatter io.Writer) (composePlugin, error) {
	what := fmt.Sprintf("compose plugin (package %s of Debian %s from %s)", c.Package, c.Suite, c.Mirror)
	lock, err := buildlock.AcquireFile(ctx, c.LockPath(), "the compose plugin cache "+c.Dir, buildlock.Options{Log: out, Report: time.Minute})
	if err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	defer lock.Release()
	for _, d := range c.AptDirs() {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return composePlugin{}, fmt.Errorf("fetch %s: %w", what, err)
		}
	}
	if err := writeFile(c.SourcesListPath(), c.SourcesList()); err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	if err := writeFile(c.AptConfigPath(), c.AptConfig()); err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	if err := runTool(ctx, chatter, "", c.AptEnv(), "apt-get", c.UpdateArgs()...); err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: apt-get update with %s (check network access to the mirror, and that %s is Debian's keyring: package debian-archive-keyring): %w", what, c.AptConfigPath(), c.Keyring, err)
	}
	show := exec.CommandContext(ctx, "apt-cache", c.ShowArgs()...)
	show.Env = append(os.Environ(), c.AptEnv()...)
	var record, stderr bytes.Buffer
	show.Stdout, show.Stderr = &record, &stderr
	if err := show.Run(); err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: apt-cache show %s (is the package in Debian %s's main component on this mirror?): %w: %s", what, c.Package, c.Suite, err, strings.TrimSpace(stderr.String()))
	}
	version, err := ParseVersion(record.String())
	if err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: apt-cache show %s: %w", what, c.Package, err)
	}
	plugin := composePlugin{path: c.Binary(version), version: version}
	if fi, err := os.Stat(plugin.path); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		plugin.cached = true
		return plugin, nil
	}

	// Downloaded and extracted next to the cache entry, so the rename is atomic.
	tmp, err := os.MkdirTemp(c.Dir, ".download-")
	if err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	defer os.RemoveAll(tmp)
	if err := runTool(ctx, chatter, tmp, c.AptEnv(), "apt-get", c.DownloadArgs(version)...); err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: apt-get download %s=%s: %w", what, c.Package, version, err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return composePlugin{}, fmt.Errorf("fetch %s: apt-get download %s=%s left %d .deb files in %s, want 1", what, c.Package, version, len(debs), tmp)
	}
	root := filepath.Join(tmp, "root")
	if err := runTool(ctx, chatter, "", nil, "dpkg-deb", "-x", debs[0], root); err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: extract %s: %w", what, debs[0], err)
	}
	extracted := filepath.Join(root, ComposePluginPath)
	if fi, err := os.Stat(extracted); err != nil || !fi.Mode().IsRegular() {
		return composePlugin{}, fmt.Errorf("fetch %s: %s %s has no file %s (did the package move it?)", what, c.Package, version, ComposePluginPath)
	}
	if err := os.MkdirAll(filepath.Dir(plugin.path), 0o755); err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	if err := os.Rename(extracted, plugin.path); err != nil {
		return composePlugin{}, fmt.Errorf("fetch %s: %w", what, err)
	}
	return plugin, nil
}

// checkCompose runs `docker compose version` in the root filesystem dir, chrooted: the docker
// CLI of the suite finds the plugin where it was put, and the plugin, built for a newer suite,
// runs on this suite's libc (a missing GLIBC symbol version fails here, not at a user's boot).
func checkCompose(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "chroot", dir, "/usr/bin/docker", "compose", "version")
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("check the compose plugin: chroot %s docker compose version: %w: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// writeFile writes data to path through a temporary file in the same directory and a rename.
func writeFile(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; left only on failure
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// runTool runs a command, streaming its output to chatter and keeping the last lines for the
// error, since a bare exit status says nothing about why debootstrap or apt failed.
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
	if plan.Compose != nil {
		tools = append(tools, "apt-get", "apt-cache", "dpkg-deb", "chroot")
		if _, err := os.Stat(plan.Compose.Keyring); err != nil {
			return fmt.Errorf("the %s base takes its compose plugin from Debian %s, whose Release file is verified with %s: install it with `apt-get install debian-archive-keyring` and retry", plan.Suite, plan.Compose.Suite, plan.Compose.Keyring)
		}
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

// baseImage is what the engine holds under a base tag.
type baseImage struct {
	id       string // "" when the tag is absent
	recipe   string // its RecipeLabel
	outdated bool   // made by Ensure with another recipe
}

func current(ctx context.Context, api client.APIClient, tag string, suite Suite) (baseImage, error) {
	info, found, err := engine.Inspect(ctx, api, tag)
	if err != nil {
		return baseImage{}, fmt.Errorf("base image: %w", err)
	}
	if !found {
		return baseImage{}, nil
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	return baseImage{id: info.ID, recipe: labels[RecipeLabel], outdated: Outdated(labels, suite)}, nil
}

func progressOf(opts Options) io.Writer {
	if opts.Progress == nil {
		return io.Discard
	}
	return opts.Progress
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
