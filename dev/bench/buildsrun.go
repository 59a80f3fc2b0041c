package bench

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/buildkit/buildkitd"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/matrix"
	"github.com/dindbundler/dindbundler/internal/source"
)

// NodePackages are the Debian packages of the builds mode's Node image: the runtime base and
// the build image of every function (node and npm, as AWS's build image has them).
var NodePackages = []string{"nodejs", "npm", "ca-certificates"}

// hostCABundle is the host's CA bundle; the Node image trusts it too, so npm reaches the
// registry through a TLS-inspecting proxy the host trusts.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// builds carries one run of the builds mode.
type builds struct {
	h       *harness // for child (logs, peak RSS), mageBin
	stack   BuildsStack
	host    *engine.Engine
	environ []string
	got     map[string]BuildMeasure
	notes   []string
	// projectDir is the project Deploy runs in (the classic sample has its own).
	projectDir string
	// save writes the report with the rows measured so far.
	save func()
	// image is the run's Node image: the Debian one plus the host's CA bundle and a file
	// naming the run, so no builder finds a step of an earlier run in its cache.
	image string
}

func (b *builds) dir() string            { return filepath.Join(b.h.o.Dir(), "builds") }
func (b *builds) project() string        { return b.projectDir }
func (b *builds) run(name string) string { return filepath.Join(b.dir(), "runs", name) }

func (b *builds) logf(format string, args ...any) {
	fmt.Fprintf(b.h.log, "bench: builds: "+format+"\n", args...)
}

func (b *builds) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
	b.logf("note: %s", b.notes[len(b.notes)-1])
}

// RunBuilds is the builds mode: on o.Builds Node.js functions with one npm dependency each and
// as many without, Deploy cold with the classic builder and on BuildKit (the engine's, an
// Engine 28.5 with the containerd store, BUILD_CACHE exported), again after one function's
// dependency changed, on a fresh engine with the cache directory restored, and cold on one and
// on two buildkitds (o.Buildkitd). It writes builds.{txt,md,json} under o.Dir() and removes the
// engines, buildkitds and images it made, also when a step fails.
func RunBuilds(ctx context.Context, o Options, environ []string, log io.Writer) (rep BuildsReport, err error) {
	if log == nil {
		log = io.Discard
	}
	stack, err := PlanBuilds(o.Builds)
	if err != nil {
		return rep, err
	}
	host, err := engine.New()
	if err != nil {
		return rep, err
	}
	defer host.Close()
	b := &builds{h: &harness{o: o, name: "builds", log: log}, stack: stack, host: host, environ: environ, got: map[string]BuildMeasure{}}
	b.projectDir = filepath.Join(b.dir(), "project")
	rep.Started, rep.Functions = time.Now(), o.Builds
	loadAtStart := loadAverage()
	// Written after every row too: a run cut short still leaves its figures.
	b.save = func() {
		r := rep
		r.Finished, r.Machine = time.Now(), machine(loadAtStart)
		r.Rows, r.PeakRSSBytes = EvaluateBuilds(o.Builds, b.got)
		r.Notes = append(buildsNotes(o), b.notes...)
		if err := writeBuilds(o, r); err != nil {
			b.logf("%v", err)
		}
	}
	var stops []func() error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			err = errors.Join(err, stops[i]())
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		err = errors.Join(err, Cleanup(cctx, host, o.Prefix, nil))
		rep.Finished, rep.Machine = time.Now(), machine(loadAtStart)
		rep.Rows, rep.PeakRSSBytes = EvaluateBuilds(o.Builds, b.got)
		rep.Notes = append(buildsNotes(o), b.notes...)
		err = errors.Join(err, writeBuilds(o, rep))
	}()
	rep.Commit, rep.Dirty = gitState(ctx)
	if err := os.RemoveAll(b.dir()); err != nil {
		return rep, fmt.Errorf("bench: empty %s: %w", b.dir(), err)
	}
	if err := os.MkdirAll(b.h.logsDir(), 0o755); err != nil {
		return rep, fmt.Errorf("bench: %w", err)
	}
	if err := source.CompileMage(ctx, b.h.mageBin()); err != nil {
		return rep, err
	}
	if err := b.nodeImage(ctx); err != nil {
		return rep, err
	}
	if err := b.writeProject(stack.Files(false), true); err != nil {
		return rep, err
	}

	for _, spec := range BuildRowSpecs(o.Builds) {
		if !o.BuildsRow(spec.ID) {
			b.got[spec.ID] = BuildMeasure{Skipped: "not selected (BENCH_BUILDS_ROWS)"}
		}
	}
	if err := b.engineRows(ctx, o, &stops, &rep); err != nil {
		return rep, err
	}

	if !o.BuildsRow(BuildkitdOne) && !o.BuildsRow(BuildkitdTwo) {
		return rep, nil
	}
	if o.Buildkitd == "" {
		b.note("one and two buildkitds not measured: name a buildkitd binary in BENCH_BUILDKITD (or DINDBUNDLER_BUILDKITD)")
		return rep, nil
	}
	// Into the host engine by default: the path the producer's buildkitd tests take. Loading
	// into a 28.5 containerd-store engine once broke off with a broken pipe here; on 2026-12-07
	// (BENCH_BUILDKITD_ENGINE=28-containerd, 1+1, 10+10 and 20+20 functions, both rows) it did
	// not happen again, and its cause is not known (the loader now names it as the engine
	// closing the connection: internal/ocilayout loadError).
	if f, ok := matrix.Lookup(o.BuildkitdEngine); ok {
		pool := &matrix.Pool{Image: base.MatrixImage, Images: base.MatrixImages, Log: b.h.log, Prefix: "bench: builds: buildkitd rows' engine: "}
		stops = append(stops, pool.Stop)
		env, api, err := b.engine(ctx, pool, f)
		if err != nil {
			return rep, err
		}
		defer api.Close()
		rep.Engine = strings.TrimPrefix(rep.Engine+"; buildkitd rows into "+engineName(ctx, api), "; ")
		stop, err := b.builders(ctx, o, env, api)
		stops = append(stops, stop)
		return rep, err
	}
	rep.Engine = strings.TrimPrefix(rep.Engine+"; buildkitd rows into the host engine, "+engineName(ctx, b.host), "; ")
	stop, err := b.builders(ctx, o, b.environ, b.host)
	stops = append(stops, stop)
	return rep, err
}

// engineRows measures the rows on the deploying engine (classic and BuildKit cold, one
// dependency changed) and on a fresh one (cache restored), those o selects; stops gets the
// engines' removal.
func (b *builds) engineRows(ctx context.Context, o Options, stops *[]func() error, rep *BuildsReport) error {
	if !o.BuildsRow(BuildClassicCold) && !o.BuildsRow(BuildKitCold) {
		return nil
	}
	// The deploying engine: Engine 28.5 with the containerd image store, whose BuildKit exports
	// BUILD_CACHE (the classic store's does not).
	flavour, _ := matrix.Lookup("28-containerd")
	poolA := &matrix.Pool{Image: base.MatrixImage, Images: base.MatrixImages, Log: b.h.log, Prefix: "bench: builds: "}
	*stops = append(*stops, poolA.Stop)
	envA, apiA, err := b.engine(ctx, poolA, flavour)
	if err != nil {
		return err
	}
	defer apiA.Close()
	rep.Engine = "BuildKit rows on " + engineName(ctx, apiA)
	cache := filepath.Join(b.dir(), "cache")
	// The classic builder on a sample of the stack (BENCH_BUILDS_CLASSIC), in a project of its own.
	sample, scale := ClassicSample(o.Builds, o.BuildsClassic)
	classic, err := PlanBuilds(sample)
	if err != nil {
		return err
	}
	if o.BuildsRow(BuildClassicCold) {
		full := b.projectDir
		b.projectDir = filepath.Join(b.dir(), "project-classic")
		err = b.writeProject(classic.Files(false), true)
		if err == nil {
			err = b.deploy(ctx, envA, BuildRun{Row: BuildClassicCold, Classic: true, Cold: true}, "classic")
		}
		b.projectDir = full
		if err != nil {
			return err
		}
	}
	if o.BuildsRow(BuildClassicCold) && scale > 1 {
		m := b.got[BuildClassicCold]
		m.Scale = scale
		b.got[BuildClassicCold] = m
		b.save()
	}
	if !o.BuildsRow(BuildKitCold) {
		return nil
	}
	if err := b.deploy(ctx, envA, BuildRun{Row: BuildKitCold, Cache: cache, Cold: true}, "buildkit"); err != nil {
		return err
	}
	if !o.BuildsRow(BuildKitOneDep) {
		return b.restoredRow(ctx, o, flavour, cache)
	}
	if err := b.writeProject(changedFiles(b.stack), false); err != nil {
		return err
	}
	if err := b.deploy(ctx, envA, BuildRun{Row: BuildKitOneDep, Cache: cache}, "buildkit"); err != nil {
		return err
	}
	return b.restoredRow(ctx, o, flavour, cache)
}

// restoredRow measures Deploy on a fresh engine given a copy of cache, when o selects it.
func (b *builds) restoredRow(ctx context.Context, o Options, flavour matrix.Flavour, cache string) error {
	if !o.BuildsRow(BuildKitRestored) {
		return nil
	}
	// A fresh engine of the same kind with only the cache directory of the runs above, as CI
	// restores it on another machine.
	restored := filepath.Join(b.dir(), "cache-restored")
	if err := copyTree(cache, restored); err != nil {
		return err
	}
	poolB := &matrix.Pool{Image: base.MatrixImage, Images: base.MatrixImages, Log: b.h.log, Prefix: "bench: builds: fresh "}
	envB, apiB, err := b.engine(ctx, poolB, flavour)
	if err == nil {
		err = b.deploy(ctx, envB, BuildRun{Row: BuildKitRestored, Cache: restored}, "restored")
		apiB.Close()
	}
	err = errors.Join(err, poolB.Stop())
	return err
}

// changedFiles are the files of the changed function after its dependency changed.
func changedFiles(s BuildsStack) map[string]string {
	out := map[string]string{}
	for path, text := range s.Files(true) {
		if strings.HasPrefix(path, "functions/"+s.ChangedFunction()+"/") {
			out[path] = text
		}
	}
	return out
}

// engine starts a matrix engine of flavour in pool and copies the Node image into it.
func (b *builds) engine(ctx context.Context, pool *matrix.Pool, f matrix.Flavour) ([]string, *engine.Engine, error) {
	api, r, err := pool.Client(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	if _, err := engine.Copy(ctx, b.host, api, b.image); err != nil {
		api.Close()
		return nil, nil, fmt.Errorf("bench: the Node image on %s: %w", f.Name, err)
	}
	b.logf("copied %s to %s in %.1fs", b.image, r.Host, time.Since(t0).Seconds())
	return matrix.WithEnv(b.environ, r.Env()), api, nil
}

func engineName(ctx context.Context, api client.APIClient) string {
	v, err := engine.Version(ctx, api)
	if err != nil {
		return "?"
	}
	store, err := engine.Of(api).Store(ctx)
	if err != nil {
		return "Engine " + v.Version
	}
	return "Engine " + v.Version + ", " + store.String()
}

// nodeImage builds the run's Node image on the host engine: the Debian image of NodePackages
// (debootstrap, once, kept by tag), the host's CA bundle and a file naming the run.
func (b *builds) nodeImage(ctx context.Context) error {
	rootfs, _, err := demo.EnsureDebian(ctx, b.host, "dindbundler/bench-node", NodePackages, b.h.log)
	if err != nil {
		return fmt.Errorf("bench: the Node image: %w", err)
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	dockerfile := "FROM " + rootfs + "\nCOPY run /etc/dindbundler-bench-run\n"
	files := []ctxFile{{name: "run", data: []byte(run + "\n"), mode: 0o644}}
	if _, err := os.Stat(hostCABundle); err == nil {
		dockerfile += "COPY ca-certificates.crt " + hostCABundle + "\nENV NODE_EXTRA_CA_CERTS=" + hostCABundle + "\n"
		files = append(files, ctxFile{name: "ca-certificates.crt", path: hostCABundle, mode: 0o644})
	}
	files = append(files, ctxFile{name: "Dockerfile", data: []byte(dockerfile), mode: 0o644})
	b.image = b.h.o.Prefix + "builds-node:" + run
	b.h.api = b.host
	_, err = b.h.build(ctx, b.image, files)
	return err
}

// writeProject writes files into the project; fresh also lays it out from scratch with the
// .env and development certificates (Certs runs before Deploy).
func (b *builds) writeProject(files map[string]string, fresh bool) error {
	if fresh {
		if err := os.RemoveAll(b.project()); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		files[".env"] = "ENV=default\n"
	}
	for path, text := range files {
		if err := atomicfile.Write(filepath.Join(b.project(), path), []byte(text), 0o644); err != nil {
			return err
		}
	}
	if fresh {
		if _, err := certs.Generate(filepath.Join(b.project(), ".esb", "certs"), certs.GenerateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// deploy runs `mage deploy` for r with environ (the engine's), build directory run, and
// records its time, peak RSS and the installs that ran.
func (b *builds) deploy(ctx context.Context, environ []string, r BuildRun, run string) error {
	env := ChildEnv(environ, BuildsSettings(r, b.run(run), filepath.Join(b.dir(), "cache-dir", run), b.image, b.h.o.Prefix))
	took, rss, err := b.h.child(ctx, r.Row, b.project(), env, b.h.mageBin(), "deploy")
	if err != nil {
		b.got[r.Row] = BuildMeasure{Err: lastLine(err.Error())}
		return err
	}
	out, _ := os.ReadFile(filepath.Join(b.h.logsDir(), r.Row+".log"))
	m := BuildMeasure{Seconds: roundSeconds(took), RSSBytes: rss, Installs: CountInstalls(string(out))}
	if r.Classic {
		m.Note = "installs counted from the classic builder's Step/Running-in lines"
	}
	if moved := LayoutTraffic(string(out)); len(r.Builders) > 0 && moved != "" {
		m.Note = moved
	}
	b.got[r.Row] = m
	b.save()
	b.logf("%s: %.1fs, %d installs, peak RSS %.0f MB", r.Row, took.Seconds(), m.Installs, float64(rss)/1e6)
	return nil
}

// builders measures cold Deploys on one buildkitd and on two (BUILDERS), with the images loaded
// into the engine of environ (api) through the build directory's OCI layout: the Node image's
// 454 MB crosses once per run, not once per function. A buildkitd reads FROM images only from registries: the Node
// image is pushed to one served here on loopback (buildkitd runs on this machine).
func (b *builds) builders(ctx context.Context, o Options, environ []string, api client.APIClient) (func() error, error) {
	var stops []func() error
	stop := func() error {
		var err error
		for i := len(stops) - 1; i >= 0; i-- {
			err = errors.Join(err, stops[i]())
		}
		return err
	}
	regDir := filepath.Join(b.dir(), "registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		return stop, fmt.Errorf("bench: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stop, fmt.Errorf("bench: a registry for the buildkitds: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.WithBlobHandler(registry.NewDiskBlobHandler(regDir)), registry.Logger(stdlog.New(io.Discard, "", 0))), ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	stops = append(stops, srv.Close)
	regHost := ln.Addr().String()
	ref := regHost + "/" + strings.TrimPrefix(b.image, b.h.o.Prefix)
	t0 := time.Now()
	if err := b.push(ctx, ref); err != nil {
		return stop, err
	}
	// The deploying engine has it by that name too: no builder of its own pulls it.
	if err := engine.Tag(ctx, api, b.image, ref); err != nil {
		return stop, err
	}
	b.logf("pushed %s in %.1fs", ref, time.Since(t0).Seconds())
	config := filepath.Join(b.dir(), "buildkitd.toml")
	if err := atomicfile.Write(config, []byte(fmt.Sprintf("[registry.%q]\n  http = true\n  insecure = true\n", regHost)), 0o644); err != nil {
		return stop, err
	}
	var socks []string
	for i := 0; i < 3; i++ {
		sock, kill, err := startBuildkitd(b.h.o.Buildkitd, filepath.Join(b.dir(), fmt.Sprintf("buildkitd-%d", i)), config)
		stops = append(stops, kill)
		if err != nil {
			return stop, err
		}
		socks = append(socks, "unix://"+sock)
	}
	image := b.image
	b.image = ref
	defer func() { b.image = image }()
	if o.BuildsRow(BuildkitdOne) {
		if err := b.deploy(ctx, environ, BuildRun{Row: BuildkitdOne, Builders: socks[:1], Cold: true}, "buildkitd-one"); err != nil {
			return stop, err
		}
	}
	if !o.BuildsRow(BuildkitdTwo) {
		return stop, nil
	}
	return stop, b.deploy(ctx, environ, BuildRun{Row: BuildkitdTwo, Builders: socks[1:], Cold: true}, "buildkitd-two")
}

// push writes the host engine's Node image to ref: docker save into a file, then the registry
// protocol.
func (b *builds) push(ctx context.Context, ref string) error {
	archive := filepath.Join(b.dir(), "node-image.tar")
	f, err := os.Create(archive)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	tw := tar.NewWriter(f)
	err = engine.SaveEach(ctx, b.host, []string{b.image}, func(h *tar.Header, r io.Reader) error {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	})
	err = errors.Join(err, tw.Close(), f.Close())
	defer os.Remove(archive)
	if err != nil {
		return fmt.Errorf("bench: save %s to %s: %w", b.image, archive, err)
	}
	tag, err := name.ParseReference(b.image)
	if err != nil {
		return err
	}
	img, err := tarball.ImageFromPath(archive, ptr(tag.(name.Tag)))
	if err != nil {
		return fmt.Errorf("bench: read %s: %w", archive, err)
	}
	dst, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(dst, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("bench: push %s: %w", ref, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// startBuildkitd starts buildkitd (bin) with its state in dir, on a unix socket there, its log
// beside dir; stop ends it and removes what it left (buildkitd.Daemon.Stop).
func startBuildkitd(bin, dir, config string) (string, func() error, error) {
	stop := func() error { return os.RemoveAll(dir) }
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", stop, fmt.Errorf("bench: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "..", filepath.Base(dir)+".log"))
	if err != nil {
		return "", stop, fmt.Errorf("bench: %w", err)
	}
	d, err := buildkitd.Start(bin, dir, logf, "--config", config, "--oci-worker-snapshotter=overlayfs")
	if d != nil {
		stop = func() error {
			defer logf.Close()
			return d.Stop()
		}
	} else {
		logf.Close()
	}
	if err != nil {
		return "", stop, fmt.Errorf("bench: %w: see %s", err, logf.Name())
	}
	return strings.TrimPrefix(d.Addr, "unix://"), stop, nil
}

// copyTree copies a BUILD_CACHE directory src to dst as a CI cache restores it: directories,
// regular files and symbolic links (each image's blobs/ links the shared ones).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return fmt.Errorf("copy %s: %w", p, err)
		}
		return out.Close()
	})
}

// buildsNotes say how the builds mode's figures were taken.
func buildsNotes(o Options) []string {
	var sample []string
	if o.BuildsRows != nil {
		sample = append(sample, "rows run: "+strings.Join(o.BuildsRows, ",")+" (BENCH_BUILDS_ROWS); the others were not selected")
	}
	if n, scale := ClassicSample(o.Builds, o.BuildsClassic); scale > 1 && o.BuildsRow(BuildClassicCold) {
		sample = append(sample, fmt.Sprintf("the classic row built %d+%d of the functions (BENCH_BUILDS_CLASSIC) and is scaled ×%g: the classic builder builds one image after the other", n, n, scale))
	}
	notes := append(sample,
		fmt.Sprintf("one run; each row is one mage deploy process (wall clock, its peak RSS); %d Node.js functions (nodejs20.x) each depend on one npm package (a distinct version of ms, kleur, left-pad or nanoid, downloaded from registry.npmjs.org, npm ci from a lock file), %d have no package.json", o.Builds, o.Builds),
		"runtime base and build image: one Debian bookworm image with nodejs and npm (debootstrap), plus the host's CA bundle and a file naming the run, so no builder finds a step of an earlier run",
		"cold = FORCE=1, a new build directory, a builder that never built this run's steps; classic and BuildKit cold rows on the same engine, one after the other")
	if o.BuildsRow(BuildKitOneDep) {
		notes = append(notes, "one dependency changed: dep001's package.json and lock name another package; Deploy without FORCE on the cold BuildKit run's build directory")
	}
	if o.BuildsRow(BuildKitRestored) {
		notes = append(notes, "fresh engine: a second Engine 28.5 (containerd store) that never built anything, given only a copy of the BUILD_CACHE directory the runs above exported")
	}
	notes = append(notes, "installs counted from the verbose output: BuildKit steps closed DONE (not CACHED) that run npm ci")
	if o.BuildsRow(BuildkitdOne) || o.BuildsRow(BuildkitdTwo) {
		notes = append(notes, "buildkitds: started here (OCI worker), pulling the Node image from a registry on loopback; the images come back into one OCI layout in the build directory (only blobs it lacks) and go into the deploying engine as archives without the layers it has; the machine has 2 cores, which two builders share")
	}
	return notes
}

// writeBuilds stores the builds report as text, Markdown and JSON under o.Dir().
func writeBuilds(o Options, rep BuildsReport) error {
	data, err := rep.JSON()
	if err != nil {
		return err
	}
	var errs []error
	for name, content := range map[string][]byte{"builds.json": data, "builds.md": []byte(rep.Markdown()), "builds.txt": []byte(rep.Text())} {
		errs = append(errs, atomicfile.Write(filepath.Join(o.Dir(), name), content, 0o644))
	}
	return errors.Join(errs...)
}
