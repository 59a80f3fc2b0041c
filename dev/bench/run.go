package bench

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/builddir"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/matrix"
	"github.com/dindbundler/dindbundler/internal/gitstate"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// harness carries one engine's benchmark run.
type harness struct {
	o     Options
	stack Stack
	// name is the engine measured (matrix.HostEngine or a flavour); api its client, environ the
	// environment of the child processes (the docker CLI, mage), which reach the same engine.
	name    string
	api     client.APIClient
	log     io.Writer
	environ []string

	m       Measurements
	notes   []string
	dataIDs map[string]string // data image → ID
	// reference are the manifest's images and IDs as built once before any measurement: what
	// both sides bundle.
	reference map[string]string
	// extra are image IDs to remove at the end that no longer carry a name or label of ours.
	extra map[string]bool
	// recorded are image IDs found in the pipeline's state files; removed at the end when
	// untagged (see harvest).
	recorded    map[string]bool
	loadAtStart string
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "bench: "+h.name+": "+format+"\n", args...)
}

func (h *harness) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	h.notes = append(h.notes, n)
	h.logf("note: %s", n)
}

// Run measures the seed-equivalent and the pipeline on a synthetic stack built from o, on each
// engine of o.Engines in turn (the seed and the pipeline of one engine both on that engine,
// every bundle on the same DinD base), writes results.txt, results.md and results.json under
// o.Dir() and returns the report. The report is written, and every Docker object named with
// o.Prefix removed, also when a run fails part way; rows it did not reach say so. An engine
// that fails does not stop the others.
func Run(ctx context.Context, o Options, environ []string, log io.Writer) (rep Report, err error) {
	if log == nil {
		log = io.Discard
	}
	stack, err := PlanStack(o)
	if err != nil {
		return Report{}, err
	}
	host, err := engine.New()
	if err != nil {
		return Report{}, err
	}
	defer host.Close()
	rep.Started = time.Now()
	loadAtStart := loadAverage()
	pool := &matrix.Pool{Image: base.MatrixImage, Images: base.MatrixImages, Log: log, Prefix: "bench: "}
	defer func() {
		rep.Finished = time.Now()
		rep.Settings, rep.Notes = SettingsOf(o), reportNotes(o)
		rep.Machine = machine(loadAtStart)
		rep.Summary = Summarize(o.DefaultCompression(), rep.Engines)
		if werr := write(o, rep); werr != nil {
			err = errors.Join(err, werr)
		}
		if perr := pool.Stop(); perr != nil {
			err = errors.Join(err, fmt.Errorf("bench: remove the matrix engines: %w", perr))
		}
	}()
	if err := os.MkdirAll(o.Dir(), 0o755); err != nil {
		return rep, fmt.Errorf("bench: create %s: %w", o.Dir(), err)
	}
	// The code measured is the tree as the mage binary is compiled from it, now.
	rep.Commit, rep.Dirty = gitState(ctx)
	prep := &harness{o: o, stack: stack, name: matrix.HostEngine, api: host, log: log}
	if err := prep.prepare(ctx); err != nil {
		return rep, err
	}
	var errs []error
	for _, name := range o.Engines {
		er, err := runEngine(ctx, o, stack, name, host, pool, environ, log)
		rep.Engines = append(rep.Engines, er)
		if err != nil {
			errs = append(errs, fmt.Errorf("bench: engine %s: %w", name, err))
			fmt.Fprintf(log, "bench: %s: %v\n", name, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return rep, errors.Join(errs...)
}

// prepare does what every engine's run shares, on the host: the DinD base (then copied to each
// engine), the tools and the layer files.
func (h *harness) prepare(ctx context.Context) error {
	h.logf("stack: %d images, %s of layers, %.0f%% compressible; engines %s; results under %s", h.o.Images, FormatBytes(h.o.Size), h.o.Compressible*100, strings.Join(h.o.Engines, ","), h.o.Dir())
	if _, err := base.Ensure(ctx, h.api, base.Options{Tag: h.o.BaseImage, Progress: h.log}); err != nil {
		return fmt.Errorf("bench: the DinD base image: %w", err)
	}
	if err := h.compileTools(ctx); err != nil {
		return err
	}
	return h.generateLayers()
}

// runEngine measures everything on the engine name: the host's (DOCKER_HOST) or a matrix
// engine started for it, which first gets the DinD base from the host.
func runEngine(ctx context.Context, o Options, stack Stack, name string, host *engine.Engine, pool *matrix.Pool, environ []string, log io.Writer) (er EngineReport, err error) {
	h := &harness{o: o, stack: stack, name: name, api: host, log: log, environ: environ, m: Measurements{}, extra: map[string]bool{}, recorded: map[string]bool{}}
	h.loadAtStart = loadAverage()
	defer func() { er = h.engineReport(ctx) }()
	if f, ok := matrix.Lookup(name); ok {
		c, r, err := pool.Client(ctx, f)
		if err != nil {
			return er, err
		}
		defer c.Close()
		h.api, h.environ = c, matrix.WithEnv(environ, r.Env())
		t0 := time.Now()
		if _, err := engine.Copy(ctx, host, c, o.BaseImage); err != nil {
			return er, fmt.Errorf("bench: the DinD base on %s: %w", name, err)
		}
		h.logf("copied %s from the host engine in %.1fs", o.BaseImage, time.Since(t0).Seconds())
	}
	if err := os.MkdirAll(h.logsDir(), 0o755); err != nil {
		return er, fmt.Errorf("bench: create %s: %w", h.logsDir(), err)
	}
	// Leftovers of an interrupted run with the same prefix would skew the figures, and so would
	// what an earlier run kept in the pipeline's cache directory.
	if err := h.cleanup(); err != nil {
		return er, err
	}
	if err := os.RemoveAll(h.cacheDir()); err != nil {
		return er, fmt.Errorf("bench: empty %s: %w", h.cacheDir(), err)
	}
	defer func() {
		if cerr := h.cleanup(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	return er, h.measure(ctx)
}

func (h *harness) measure(ctx context.Context) error {
	if err := h.buildStack(ctx); err != nil {
		return err
	}
	if err := h.writeProject(); err != nil {
		return err
	}
	if err := h.setup(ctx); err != nil {
		return err
	}
	d := h.o.DefaultCompression()
	for _, c := range h.o.RunOrder() {
		if c == d {
			break // measured below, in turns with the seed
		}
		if err := h.full(ctx, c); err != nil {
			status := StatusError
			var ce *childError
			if errors.As(err, &ce) {
				status = FailureStatus(c, ce.tail)
			}
			h.failCompression(c, status, lastLine(err.Error()))
			h.note("BUNDLE_COMPRESSION=%s: %s", c, status)
		}
	}
	// The seed's and the default's full runs in turns, BENCH_RUNS times, so load on the shared
	// machine falls on both alike; the last ones' images stay for the boots.
	var seedTag string
	for i := 0; i < h.o.Runs; i++ {
		var err error
		if seedTag, err = h.seed(ctx); err != nil {
			return err
		}
		if err := h.full(ctx, d); err != nil {
			return err
		}
	}
	// The seed and the default's bundle boot in turns, so load on the shared machine falls on
	// both alike.
	for i := 0; i < h.o.Boots; i++ {
		h.boot(ctx, "seed", seedTag)
		h.boot(ctx, d, h.bundleTag(d))
	}
	if err := engine.Remove(ctx, h.api, seedTag); err != nil {
		return err
	}
	if err := h.noChange(ctx, d); err != nil {
		return err
	}
	if err := h.oneChange(ctx, d); err != nil {
		return err
	}
	return h.functions(ctx)
}

// FailureStatus classifies a failed run of compression c by the end of its output: unsupported
// when the pipeline rejected the setting (config and the save stage both quote it in an error
// about the compression: `unknown compression "zstd"`), else error.
func FailureStatus(c, output string) string {
	if strings.Contains(strings.ToLower(output), "compression") && strings.Contains(output, strconv.Quote(c)) {
		return StatusUnsupported
	}
	return StatusError
}

// failCompression marks every row of compression c.
func (h *harness) failCompression(c, status, why string) {
	for _, id := range []string{"full.", "save.", "image.", "archive.", "imagesize.", "boot.", "restart.", "rss.save.", "rss.image."} {
		if r, ok := h.m[id+c]; !ok || r.Status != StatusOK {
			h.m.Fail(id+c, status, why)
		}
	}
}

// child runs one process with its output in logs/<name>.log and returns its wall time and peak
// RSS in bytes (its own; see rss_linux.go for why not simply the rusage figure).
func (h *harness) child(ctx context.Context, name, dir string, env []string, args ...string) (time.Duration, int64, error) {
	logPath := filepath.Join(h.logsDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logf, logf
	start := time.Now()
	if err = cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("%s: start %s: %w", name, args[0], err)
	}
	sampler := sampleRSS(cmd.Process.Pid)
	err = cmd.Wait()
	elapsed := time.Since(start)
	rss := sampler.finish(cmd.ProcessState)
	if err != nil {
		return elapsed, rss, &childError{what: name + " (" + strings.Join(args, " ") + ")", log: logPath, tail: tail(logPath, 15), err: err}
	}
	return elapsed, rss, nil
}

// childError is a failed child process, with the end of its output.
type childError struct {
	what, log, tail string
	err             error
}

func (e *childError) Error() string {
	return fmt.Sprintf("%s failed: %v; last lines of %s:\n%s", e.what, e.err, e.log, e.tail)
}

func (e *childError) Unwrap() error { return e.err }

// mage runs the compiled magefile with one target on the benchmark project.
func (h *harness) mage(ctx context.Context, name, target, buildDir, tag, compression string, force bool) (time.Duration, int64, error) {
	env := ChildEnv(h.environ, h.stack.RunSettings(h.o, buildDir, h.cacheDir(), tag, compression, force))
	took, rss, err := h.child(ctx, name, h.projectDir(), env, h.mageBin(), target)
	h.harvest(builddir.Dir(buildDir).State())
	return took, rss, err
}

// imageIDPattern matches an image ID in the pipeline's state files.
var imageIDPattern = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// harvest notes the image IDs the pipeline recorded in its state files: images it made without
// a name of ours (a layers image, a replaced bundle) that the cleanup removes if they are still
// untagged at the end.
func (h *harness) harvest(stateDir string) {
	files, _ := filepath.Glob(filepath.Join(stateDir, "*.json"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, id := range imageIDPattern.FindAllString(string(data), -1) {
			h.recorded[id] = true
		}
	}
}

func (h *harness) runDir(name string) string { return filepath.Join(h.runsDir(), name) }
func (h *harness) bundleTag(c string) string { return h.o.Prefix + "bundle:" + c }

// setup runs the pipeline up to the merged manifest once, so the producer builds the service
// images both sides then bundle unchanged.
func (h *harness) setup(ctx context.Context) error {
	dir := h.runDir("setup")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("bench: reset %s: %w", dir, err)
	}
	if _, _, err := h.mage(ctx, "setup-manifest", "manifest", dir, h.bundleTag("setup"), h.o.DefaultCompression(), true); err != nil {
		return err
	}
	m, err := manifest.Read(builddir.Dir(dir).MergedManifest())
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	h.reference = map[string]string{}
	for _, img := range m.Images {
		h.reference[img.Name] = img.Digest
	}
	want := h.stack.WrapperNames()
	if got := m.Names(); strings.Join(got, " ") != strings.Join(want, " ") {
		return fmt.Errorf("bench: the pipeline's manifest lists %v, the stack has %v", got, want)
	}
	h.logf("producer built %d service images", len(want))
	return nil
}

// seedEntrypoint loads one `docker save` archive and starts the stack, as the seed's did.
//
//go:embed seed_entrypoint.sh
var seedEntrypoint []byte

// seedDockerfile is the seed tool's bundle as its build.sh made it: one uncompressed docker save
// archive and the stack's files on the DinD base, with seedEntrypoint.
const seedDockerfile = `ARG DIND_BASE_IMAGE
FROM ${DIND_BASE_IMAGE}
ARG BUNDLE_PROJECT
COPY images.tar /images.tar
COPY entrypoint.sh /usr/local/bin/dindbundler-entrypoint.sh
COPY app/ /app/
COPY certs/ /root/.esb/certs/
ENV BUNDLE_PROJECT=${BUNDLE_PROJECT}
VOLUME /var/lib/docker
ENTRYPOINT ["/usr/local/bin/dindbundler-entrypoint.sh"]
CMD []
`

// seed measures the seed-equivalent full run with the docker CLI. "From scratch": the context
// directory is removed, the tag is removed beforehand (with its untagged parents, the classic
// builder's cache) and the build runs with --no-cache.
func (h *harness) seed(ctx context.Context) (string, error) {
	tag := h.o.Prefix + "seed:latest"
	if err := engine.Remove(ctx, h.api, tag); err != nil {
		return "", err
	}
	ctxDir := h.seedCtx()
	setupDir := h.runDir("setup")
	names := h.stack.WrapperNames()
	start := time.Now()
	if err := os.RemoveAll(ctxDir); err != nil {
		return "", fmt.Errorf("seed: rm -rf %s: %w", ctxDir, err)
	}
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	saveTime, saveRSS, err := h.child(ctx, "seed-save", ctxDir, h.environ, append([]string{"docker", "save", "-o", filepath.Join(ctxDir, "images.tar")}, names...)...)
	if err != nil {
		return "", err
	}
	if err := h.seedFiles(ctxDir, builddir.Dir(setupDir).MergedManifest()); err != nil {
		return "", err
	}
	buildTime, buildRSS, err := h.child(ctx, "seed-build", ctxDir, append(slices.Clone(h.environ), "DOCKER_BUILDKIT=0"),
		"docker", "build", "--no-cache", "-t", tag, "--build-arg", "DIND_BASE_IMAGE="+h.o.BaseImage,
		"--build-arg", "BUNDLE_PROJECT="+h.stack.Project, ctxDir)
	if err != nil {
		return "", err
	}
	total := time.Since(start)
	h.m.Sample("seed.full", total.Seconds())
	h.m.Sample("seed.save", saveTime.Seconds())
	h.m.Sample("seed.build", buildTime.Seconds())
	h.m.Sample("seed.rss.save", float64(saveRSS)/1e6)
	h.m.Sample("seed.rss.build", float64(buildRSS)/1e6)
	if fi, err := os.Stat(filepath.Join(ctxDir, "images.tar")); err == nil {
		h.m.Set("seed.archive", float64(fi.Size()))
	}
	if err := h.imageSize("seed.image", tag); err != nil {
		return "", err
	}
	h.logf("seed-equivalent full run: %.1fs (docker save %.1fs, docker build %.1fs)", total.Seconds(), saveTime.Seconds(), buildTime.Seconds())
	// The context is not needed any more; its archive is as large as the stack.
	if err := os.RemoveAll(ctxDir); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	return tag, nil
}

// seedFiles copies the stack's files into the seed context the way build.sh did.
func (h *harness) seedFiles(ctxDir, manifestPath string) error {
	m, err := manifest.Read(manifestPath)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	var images bytes.Buffer
	for _, img := range m.Images {
		fmt.Fprintf(&images, "%s %s\n", img.Digest, img.Name)
	}
	type file struct {
		src  string
		data []byte
		mode fs.FileMode
	}
	files := map[string]file{
		"Dockerfile":               {data: []byte(seedDockerfile), mode: 0o644},
		"entrypoint.sh":            {data: seedEntrypoint, mode: 0o755},
		"app/compose.yml":          {src: filepath.Join(h.projectDir(), "docker-compose.yml"), mode: 0o644},
		"app/.env":                 {src: filepath.Join(h.projectDir(), ".env"), mode: 0o600},
		"app/bundle/manifest.json": {src: manifestPath, mode: 0o644},
		"app/bundle/images.txt":    {data: images.Bytes(), mode: 0o644},
	}
	certFiles, err := certs.BundleFiles(h.certDir())
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	for _, f := range certFiles {
		files[filepath.Join("certs", f)] = file{src: filepath.Join(h.certDir(), f), mode: 0o644}
	}
	for name, f := range files {
		data := f.data
		if f.src != "" {
			if data, err = os.ReadFile(f.src); err != nil {
				return fmt.Errorf("seed: copy %s: %w", f.src, err)
			}
		}
		dest := filepath.Join(ctxDir, name)
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if err := os.WriteFile(dest, data, f.mode); err != nil {
			return fmt.Errorf("seed: copy %s: %w", name, err)
		}
	}
	return nil
}

// full measures a full run of the pipeline for compression c from scratch: a new build
// directory, the bundle tag removed, FORCE=1. Save and Image run as two processes so each
// stage's peak RSS is its own.
func (h *harness) full(ctx context.Context, c string) error {
	dir, tag := h.runDir(c), h.bundleTag(c)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("bench: reset %s: %w", dir, err)
	}
	if err := engine.Remove(ctx, h.api, tag); err != nil {
		return err
	}
	// From scratch also for a repeated run: the layers image of the one before goes too.
	if err := h.removeRecorded(ctx); err != nil {
		return err
	}
	saveTime, saveRSS, err := h.mage(ctx, "full-"+c+"-save", "save", dir, tag, c, true)
	if err != nil {
		return err
	}
	// Not FORCE=1 here: that would redo Save; the new build directory and the removed tag
	// leave Image nothing to skip.
	imageTime, imageRSS, err := h.mage(ctx, "full-"+c+"-image", "image", dir, tag, c, false)
	if err != nil {
		return err
	}
	h.m.Sample("full."+c, (saveTime + imageTime).Seconds())
	if took, ok := BaseManifestRead(tail(filepath.Join(h.logsDir(), "full-"+c+"-image.log"), 40)); ok {
		h.m.Annotate("full."+c, fmt.Sprintf("includes %.1f s to read the base image's manifest from the engine (containerd store: once per base image and CACHE_DIR)", took))
		h.note("the full run of %s read the base image's manifest from the engine in %.1f s: paid by the first bundle per base image (then kept in CACHE_DIR); the later full runs found it there", c, took)
	}
	h.m.Sample("save."+c, saveTime.Seconds())
	h.m.Sample("image."+c, imageTime.Seconds())
	h.m.Sample("rss.save."+c, float64(saveRSS)/1e6)
	h.m.Sample("rss.image."+c, float64(imageRSS)/1e6)
	size, parts, err := outputSize(dir)
	if err != nil {
		return err
	}
	h.m.Set("archive."+c, float64(size))
	h.m.Annotate("archive."+c, "BUILD_DIR: "+strings.Join(parts, ", "))
	if err := h.imageSize("imagesize."+c, tag); err != nil {
		return err
	}
	h.checkSameImages(dir, c)
	h.logf("full run, %s: %.1fs (save %.1fs, image %.1fs), archive %s", c, (saveTime + imageTime).Seconds(), saveTime.Seconds(), imageTime.Seconds(), FormatBytes(size))
	if c != h.o.DefaultCompression() {
		// Once: the goals are on the default, whose bundle boots BENCH_BOOTS times later, in
		// turns with the seed's.
		h.boot(ctx, c, tag)
		// Free the space for the next setting; the default's stays for the incremental runs.
		if err := engine.Remove(ctx, h.api, tag); err != nil {
			return err
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	return nil
}

// checkSameImages notes when the pipeline bundled other image IDs than the seed did.
func (h *harness) checkSameImages(dir, c string) {
	m, err := manifest.Read(builddir.Dir(dir).MergedManifest())
	if err != nil {
		h.note("%s: cannot read the merged manifest: %v", c, err)
		return
	}
	for _, img := range m.Images {
		if h.reference[img.Name] != img.Digest {
			h.note("%s: %s is %s, the seed bundled %s", c, img.Name, img.Digest, h.reference[img.Name])
		}
	}
}

// outputSize is what a run left on disk: every file under its build directory (whatever form
// Save stores the images in: one archive, a layer store), with the top-level entries of 1 MiB or
// more named for the note.
func outputSize(dir string) (int64, []string, error) {
	var total int64
	var parts []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil, fmt.Errorf("bench: %w", err)
	}
	for _, e := range entries {
		var size int64
		err := filepath.WalkDir(filepath.Join(dir, e.Name()), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			size += fi.Size()
			return nil
		})
		if err != nil {
			return 0, nil, fmt.Errorf("bench: %w", err)
		}
		total += size
		if size >= 1<<20 {
			parts = append(parts, fmt.Sprintf("%s %s", e.Name(), FormatBytes(size)))
		}
	}
	return total, parts, nil
}

func (h *harness) imageSize(id, tag string) error {
	info, found, err := engine.Inspect(context.Background(), h.api, tag)
	if err == nil && !found {
		err = fmt.Errorf("image %s not found", tag)
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	h.m.Set(id, float64(info.Size))
	return nil
}

// noChange runs the whole pipeline again with nothing changed.
func (h *harness) noChange(ctx context.Context, c string) error {
	took, rss, err := h.mage(ctx, "nochange", "bundle", h.runDir(c), h.bundleTag(c), c, false)
	if err != nil {
		return err
	}
	h.m.Set("nochange", took.Seconds())
	h.m.Set("rss.nochange", float64(rss)/1e6)
	h.logf("nothing changed: %.2fs", took.Seconds())
	return nil
}

// oneChange rebuilds one synthetic image with a new top layer (not timed), rewrites its service's
// build context as the image's source change would, then times the whole pipeline.
func (h *harness) oneChange(ctx context.Context, c string) error {
	img := h.stack.Changed()
	if err := h.ensureLayer(img.Layers[len(img.Layers)-1]); err != nil {
		return err
	}
	id, err := h.buildData(ctx, img)
	if err != nil {
		return err
	}
	h.dataIDs[img.Data] = id
	ctxFile := filepath.Join(h.projectDir(), "images", fmt.Sprintf("%02d", img.Index), "Dockerfile")
	if err := atomicfile.Write(ctxFile, []byte(h.stack.WrapperDockerfile(img, id)), 0o644); err != nil {
		return err
	}
	if old, found, err := engine.Inspect(ctx, h.api, h.bundleTag(c)); err == nil && found {
		h.extra[old.ID] = true // the bundle image the run replaces
	}
	took, rss, err := h.mage(ctx, "onechange", "bundle", h.runDir(c), h.bundleTag(c), c, false)
	if err != nil {
		return err
	}
	h.m.Set("onechange", took.Seconds())
	h.m.Set("rss.onechange", float64(rss)/1e6)
	h.logf("one image changed: %.2fs", took.Seconds())
	m, err := manifest.Read(builddir.Dir(h.runDir(c)).MergedManifest())
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	changed := 0
	for _, mi := range m.Images {
		if mi.Digest != h.reference[mi.Name] {
			changed++
		}
	}
	if changed != 1 {
		h.note("one-changed run: the manifest has %d changed images, want 1", changed)
		h.m.Annotate("onechange", fmt.Sprintf("%d images changed in the manifest, want 1", changed))
	}
	return nil
}

const entrypointPath = "/usr/local/bin/dindbundler-entrypoint.sh"

// boot measures the first start of tag (empty /var/lib/docker volume) and a restart of the same
// container, each from the container's StartedAt until the stack is up and
// `entrypoint.sh health` (every service running, healthy where it has a healthcheck) passes.
// Each call adds one sample to the rows (BENCH_BOOTS calls: the median and the spread).
// Failures are recorded in the rows, not returned: the other figures still count.
func (h *harness) boot(ctx context.Context, id, tag string) {
	bootID, restartID := "boot."+id, "restart."+id
	if id == "seed" {
		bootID, restartID = "seed.boot", "seed.restart"
	}
	h.bootRun(ctx, bootSpec{id: id, tag: tag, bootRow: bootID, restartRow: restartID})
}

// bootSpec is one boot of a bundle container: what runs, the rows its times go to, and what
// else is measured in it.
type bootSpec struct {
	id  string // names the container, volume, phases and kept log
	tag string
	env []string // the container's environment (FUNCTIONS_PRELOAD)
	// bootRow takes the first start's time; restartRow the restart's ("": no restart).
	bootRow, restartRow string
	// afterBoot runs once the first start is healthy (started at firstAt, healthy after
	// first); afterRestart once the restart is. Their errors fail the rows not yet measured.
	afterBoot    func(ctx context.Context, containerID string, firstAt time.Time, first time.Duration) error
	afterRestart func(ctx context.Context, containerID string, againAt time.Time, again time.Duration) error
	// rows are the rows a failure marks besides bootRow and restartRow.
	rows []string
}

// bootRun carries out one bootSpec; see boot.
func (h *harness) bootRun(ctx context.Context, b bootSpec) {
	name, vol := h.o.Prefix+"boot-"+b.id, h.o.Prefix+"vol-"+b.id
	fail := func(err error) {
		for _, r := range append([]string{b.bootRow, b.restartRow}, b.rows...) {
			if _, ok := h.m[r]; r != "" && !ok {
				h.m.Fail(r, StatusError, lastLine(err.Error()))
			}
		}
		h.note("boot of %s (%s) failed: %v", b.tag, b.id, err)
	}
	defer h.removeContainer(name, vol)
	ctx, cancel := context.WithTimeout(ctx, 2*h.o.BootTimeout)
	defer cancel()
	c, err := engine.StartDinD(ctx, h.api, engine.RunSpec{Name: name, Image: b.tag, Volume: vol, Env: b.env, StopTimeout: 30})
	if err != nil {
		fail(err)
		return
	}
	first, firstAt, err := h.waitStack(ctx, c.ID, 1)
	if err != nil {
		fail(err)
		return
	}
	h.m.Sample(b.bootRow, first.Seconds())
	if b.afterBoot != nil {
		if err := b.afterBoot(ctx, c.ID, firstAt, first); err != nil {
			fail(err)
			return
		}
	}
	var again time.Duration
	var againAt time.Time
	if b.restartRow != "" {
		if err := engine.StopContainer(ctx, h.api, name); err != nil {
			fail(err)
			return
		}
		if err := engine.StartContainer(ctx, h.api, name); err != nil {
			fail(fmt.Errorf("restart: %w", err))
			return
		}
		if again, againAt, err = h.waitStack(ctx, c.ID, 2); err != nil {
			fail(err)
			return
		}
		h.m.Sample(b.restartRow, again.Seconds())
		const reloaded = "the restart loaded the images again"
		if logs, err := engine.Logs(ctx, h.api, c.ID); err == nil && strings.Count(logs, "loading images") > 1 && !strings.Contains(h.m[b.restartRow].Note, reloaded) {
			h.m.Annotate(b.restartRow, reloaded)
		}
		if b.afterRestart != nil {
			if err := b.afterRestart(ctx, c.ID, againAt, again); err != nil {
				fail(err)
				return
			}
		}
	}
	h.logf("boot of %s (%s, %s): first %.1fs, restart %.1fs", b.tag, b.id, c.Mode, first.Seconds(), again.Seconds())
	// Where the boots spent their time: the container's log with the engine's timestamps, and
	// the phases it shows.
	if logs, err := engine.TimedLogs(ctx, h.api, c.ID); err == nil {
		starts := map[string][2]time.Time{"boot": {firstAt, firstAt.Add(first)}}
		if b.restartRow != "" {
			starts["restart"] = [2]time.Time{againAt, againAt.Add(again)}
		}
		for start, at := range starts {
			for p, v := range BootPhases(logs, at[0], at[1]) {
				h.m.Sample(phaseID(b.id, start, p), v)
			}
		}
		header := fmt.Sprintf("# first start %s, healthy after %s; restart %s, healthy after %s\n", firstAt.Format(time.RFC3339Nano), first, againAt.Format(time.RFC3339Nano), again)
		path := filepath.Join(h.logsDir(), fmt.Sprintf("boot-%s-%d.log", b.id, len(h.m[b.bootRow].Samples)))
		if err := atomicfile.Write(path, []byte(header+logs), 0o644); err != nil {
			h.note("%v", err)
		}
	}
}

// waitStack waits for the n-th "stack … is up" of the container's log, then polls the bundle's
// health command until it passes, and returns the time since the container's current start.
func (h *harness) waitStack(ctx context.Context, id string, n int) (time.Duration, time.Time, error) {
	info, err := engine.InspectContainer(ctx, h.api, id)
	if err != nil {
		return 0, time.Time{}, err
	}
	started, err := time.Parse(time.RFC3339Nano, info.State.StartedAt)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("container %s start time %q: %w", id, info.State.StartedAt, err)
	}
	wctx, cancel := context.WithTimeout(ctx, h.o.BootTimeout)
	defer cancel()
	if _, err := engine.WaitForLog(wctx, h.api, id, "stack "+h.stack.Project+" is up", n); err != nil {
		return 0, time.Time{}, err
	}
	for {
		out, code, err := engine.Exec(wctx, h.api, id, entrypointPath, "health")
		if err == nil && code == 0 {
			return time.Since(started), started, nil
		}
		select {
		case <-wctx.Done():
			return 0, time.Time{}, fmt.Errorf("waiting for the stack in %s to be healthy (last: %s): %w", id, strings.TrimSpace(out), wctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (h *harness) removeContainer(name, vol string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := engine.RemoveContainer(ctx, h.api, name, vol); err != nil {
		h.note("%v", err)
	}
}

// removeRecorded removes the images the pipeline's state files named that no name holds any
// more (a layers image, a replaced bundle).
func (h *harness) removeRecorded(ctx context.Context) error {
	var err error
	for id := range h.recorded {
		// Only untagged ones: a recorded ID may be the DinD base or another named image.
		info, found, ierr := engine.Inspect(ctx, h.api, id)
		if ierr != nil || !found || len(info.RepoTags) > 0 {
			continue
		}
		if rerr := engine.Remove(ctx, h.api, id); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// cleanup removes the Docker objects of the run and the large files under the build directory;
// the generated layers stay for the next run.
func (h *harness) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := errors.Join(Cleanup(ctx, h.api, h.o.Prefix, h.extra), h.removeRecorded(ctx))
	for _, d := range []string{h.runsDir(), filepath.Dir(h.seedCtx())} {
		if rerr := os.RemoveAll(d); rerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", rerr))
		}
	}
	return err
}

// engineReport assembles the figures measured so far on h's engine.
func (h *harness) engineReport(ctx context.Context) EngineReport {
	er := EngineReportOf(h.o, h.name, h.m)
	er.Notes = append(slices.Clone(h.notes), PhaseNote(h.m, h.o.DefaultCompression())...)
	er.Notes = append(er.Notes, FunctionPhaseNote(h.m)...)
	er.Load = h.loadAtStart + " → " + loadAverage()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if v, err := engine.Version(ctx, h.api); err == nil {
		er.Docker, er.DockerAPI = v.Version, v.APIVersion
	}
	if info, err := engine.Info(ctx, h.api); err == nil {
		er.StorageDriver = info.Driver
	}
	if store, err := engine.Of(h.api).Store(ctx); err == nil {
		er.Store = StoreClassic
		if store == engine.ContainerdStore {
			er.Store = StoreContainerd
		}
	}
	return er
}

// reportNotes say how the figures were taken.
func reportNotes(o Options) []string {
	notes := []string{
		"times are wall-clock seconds; the seed's and the default's full runs (BENCH_RUNS) and boots (BENCH_BOOTS) are the median of that many, the seed's and ours in turns; other figures are one run each; the page cache holds the layers for both sides (the images were just built)",
		"each engine runs everything on itself: the synthetic images are built there, the seed's docker save/build and the mage processes talk to it (DOCKER_HOST), the bundles boot there; every bundle has the same DinD base (inner engine), copied from the host engine",
		"from scratch: seed = context dir removed, tag removed, docker build --no-cache; ours = new BUILD_DIR, tag removed, FORCE=1 on save (image then has nothing to skip)",
		"boot and restart run from the container's StartedAt to the stack's health command passing; the seed bundle's entrypoint (dev/bench/seed_entrypoint.sh) docker-loads one uncompressed images.tar",
		"saved images on disk: every file under the run's BUILD_DIR after the full run, whatever form Save stores the images in",
		"ours: the embedded producer rebuilds the compose services' FROM-only wrappers on each full run (classic build cache: same IDs as the seed's)",
		fmt.Sprintf("BENCH_COMPRESSIBLE=%g: %.0f%% of the layer bytes are random, which no compressor shrinks; a compressed archive cannot get below about that fraction of none", o.Compressible, (1-o.Compressible)*100),
	}
	if o.Functions > 0 {
		notes = append(notes,
			fmt.Sprintf("functions (a)–(d): one bundle of the %d services and %d function images (FROM scratch + the static benchmark binary + a shared %s layer, then a %s layer each, built by the embedded producer from SAM Image functions, named under %s and served by the bundle's registry), booted in turns with FUNCTIONS_PRELOAD=boot (a), background (b), and (d); (c) is the %s bundle of the same services; (b)'s restart waits for the background preload first", o.Images, o.Functions, FormatBytes(FunctionBaseSize), FormatBytes(o.FunctionOwn), FunctionRegistry, o.DefaultCompression()),
			fmt.Sprintf("(d) stands in for the upstream's registry:2 (no such image is reachable here) with go-containerregistry's pkg/registry (dev/bench/pushreg, blobs in memory) started inside the bundle on %s once the stack is healthy; every function image is docker tag'ed and docker push'ed to it one after the other; (d) = stack healthy + that", PushRegistryAddr),
			"restart moved again: 'loading images' lines and pulls (the entrypoint's 'pulled' lines or the registry's log, the larger) after the restart; registry ready after dockerd ready: the boot phase between the entrypoint's 'dockerd ready' and 'registry ready' lines",
		)
	}
	if len(o.FunctionSizes) > 0 {
		notes = append(notes, "first calls: a bundle of the running service and, per size, functions a and b sharing a base layer of the size (less a small own layer), booted with FUNCTIONS_PRELOAD=none; each call is docker exec <bundle> docker pull, then docker exec <bundle> docker run --rm (the function answers once and exits); bytes as the bundle's registry logs them (manifest, config and the blobs the engine lacked, compressed as bundled); the static binary's layer is the same in every size's base, so only the first size's first call pulls it")
	}
	return notes
}

// write stores the report as text, Markdown and JSON under o.Dir().
func write(o Options, rep Report) error {
	data, err := rep.JSON()
	if err != nil {
		return err
	}
	var errs []error
	for name, content := range map[string][]byte{"results.json": data, "results.md": []byte(rep.Markdown()), "results.txt": []byte(rep.Text())} {
		errs = append(errs, atomicfile.Write(filepath.Join(o.Dir(), name), content, 0o644))
	}
	return errors.Join(errs...)
}

// machine describes the host; what cannot be read stays empty.
func machine(loadAtStart string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Load: loadAtStart + " → " + loadAverage()}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemoryBytes = kb << 10
			}
		}
	}
	return m
}

// loadAverage is the 1-minute load average, or "?".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// gitState is the module's HEAD and its uncommitted files, read-only; empty without git.
func gitState(ctx context.Context) (string, []string) {
	root, err := ModuleDir()
	if err != nil {
		return "", nil
	}
	s := gitstate.Read(ctx, root)
	if s.Commit == "" {
		return "", nil
	}
	return s.Short(), s.Dirty
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lastLine is the last non-empty line of s: the gist of a long error.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return s
}

// Main is the bench target: options from the environment and the working directory, the table
// on stdout, progress on stderr.
func Main(ctx context.Context, stdout, stderr io.Writer) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	opts, err := FromEnv(os.Environ(), wd)
	if err != nil {
		return err
	}
	if opts.Builds > 0 {
		rep, err := RunBuilds(ctx, opts, os.Environ(), stderr)
		if len(rep.Rows) > 0 {
			fmt.Fprint(stdout, rep.Text())
		}
		return err
	}
	rep, err := Run(ctx, opts, os.Environ(), stderr)
	if len(rep.Engines) > 0 {
		fmt.Fprint(stdout, rep.Text())
	}
	return err
}
