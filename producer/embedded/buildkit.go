package embedded

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// Which builder builds the images (DEPLOY_BUILDER).
const (
	BuilderAuto     = ""         // BuildKit (BUILDKIT_HOST, else the engine's own), else the classic builder
	BuilderBuildKit = "buildkit" // BuildKit or fail
	BuilderClassic  = "classic"  // the engine's classic builder, one image after the other
)

// BuilderVariable chooses the builder; BUILDKIT_HOST names a standalone buildkitd.
const BuilderVariable = "DEPLOY_BUILDER"

// concurrentBuilds is how many images are solved at once: BuildKit schedules their steps
// itself and runs steps shared by several images once.
const concurrentBuilds = 8

// builtImage is one image built: its ID in the engine, and on BuildKit what its steps did.
type builtImage struct {
	ID    string
	Steps buildkit.Steps
	Where string // the builder that built it
	Kept  bool   // the image is also in the build cache's layout (resultcache.go)
	// Manifest is the kept image's manifest when it came from the run's OCI layout (a builder
	// that ExportsToLayout); zero when the engine's ID names it (the engine's BuildKit).
	Manifest ocispec.Descriptor
}

// runBuilders are the builders of one run, connected: BuildKit ones, each with how many
// images it builds at once, and the run's OCI layout for those that export into one; none
// means the classic builder.
type runBuilders struct {
	bks      []*buildkit.Builder
	parallel []int
	loader   *ocilayout.Loader // the run's OCI layout into the engine; nil when no builder exports there
}

// connectBuilders connects the builders req asks for (chooseBuilders), refuses a BUILD_CACHE
// one of them cannot export before anything is built, and opens the run's OCI layout for those
// whose images come back into it. Close it when the run is done.
func connectBuilders(ctx context.Context, api client.APIClient, req Request, progress io.Writer) (*runBuilders, error) {
	bks, parallel, err := chooseBuilders(ctx, api, req, progress)
	if err != nil {
		return nil, err
	}
	run := &runBuilders{bks: bks, parallel: parallel}
	for _, bk := range bks {
		if req.BuildCache != "" && !bk.ExportsCache() {
			run.Close()
			return nil, noCacheExport(req, bk)
		}
	}
	// The images of a standalone buildkitd and of another engine's BuildKit (exported on the
	// containerd store, saved from that engine's classic store) come back into one OCI layout
	// of the run and go into the engine with only the layers it lacks, each once
	// (internal/ocilayout).
	for _, bk := range bks {
		if !bk.ExportsToLayout() {
			continue
		}
		if run.loader == nil {
			if !filepath.IsAbs(req.ImageLayoutDir()) {
				run.Close()
				// Never a layout in whatever the working directory is.
				return nil, fmt.Errorf("%s builds its images into an OCI layout, and the request names no directory for it (set BUILD_DIR or the output root)", bk.Where)
			}
			layout, err := ocilayout.Open(req.ImageLayoutDir())
			if err != nil {
				run.Close()
				return nil, err
			}
			run.loader = ocilayout.NewLoader(layout, engine.Of(api))
		}
		bk.LoadThrough(run.loader)
	}
	return run, nil
}

// keepers are the run's builders as decideKeep weighs them.
func (r *runBuilders) keepers() []keeper {
	out := make([]keeper, len(r.bks))
	for i, bk := range r.bks {
		out[i] = keeper{Where: bk.Where, Keeps: bk.KeepsImages()}
	}
	return out
}

// Close ends the connections and lets the run's OCI layout go.
func (r *runBuilders) Close() error {
	var err error
	for _, bk := range r.bks {
		err = errors.Join(err, bk.Close())
	}
	if r.loader != nil {
		err = errors.Join(err, r.loader.Layout().Close())
	}
	return err
}

// buildAll connects the builders req asks for and builds every pending image (runBuilders.build),
// keeping the images in keep's layout where decideKeep says so (a zero keep: none).
func buildAll(ctx context.Context, api client.APIClient, todo []pendingBuild, roots map[string]string, req Request, keep keptCache, progress io.Writer) (map[string]builtImage, error) {
	run, err := connectBuilders(ctx, api, req, progress)
	if err != nil {
		return nil, err
	}
	defer run.Close()
	mode := decideKeep(keep.Layout, req.Force, run.keepers())
	var kept *ocilayout.Layout
	if slices.Contains(mode.Keep, true) {
		if kept, err = keep.open(); err != nil {
			return nil, err
		}
		defer kept.Close()
	}
	return run.build(ctx, api, todo, roots, req, kept, mode.Keep, progress)
}

// build builds every pending image and returns those built, by name; the error names every
// build that failed. On BuildKit the images are built concurrently, largest first, each builder
// taking as many at once as its parallelism (concurrentBuilds, or BUILDERS' ?parallel=N); a
// builder that stops answering mid-run hands its images to the others (schedule.go). The classic
// builder, the fallback for an engine without BuildKit, builds one after the other.
//
// The images of builder b are also kept in the layout kept (the build cache's) when keep[b]:
// the engine's BuildKit exports them there in the same solve, a builder exporting into the run's
// OCI layout has them linked (or copied) from there.
func (r *runBuilders) build(ctx context.Context, api client.APIClient, todo []pendingBuild, roots map[string]string, req Request, kept *ocilayout.Layout, keep []bool, progress io.Writer) (map[string]builtImage, error) {
	if r.bks == nil {
		return buildClassic(ctx, api, todo, roots, progress)
	}
	var where []string
	slots := 0
	for i, bk := range r.bks {
		where = append(where, bk.Where)
		slots += r.parallel[i]
	}
	var store engine.ImageStore
	if kept != nil && r.loader != nil {
		var err error
		if store, err = engine.Of(api).Store(ctx); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(progress, "builds: on %s, %d at a time\n", strings.Join(where, " and "), min(slots, len(todo)))
	size := map[string]int64{}
	for _, p := range todo {
		size[p.Name] = contextSize(p.ImageBuild)
	}
	run := &spread{sched: newScheduler(largestFirst(todo, size), len(r.bks)), view: buildkit.NewView(progress), built: map[string]builtImage{}}
	run.ready = sync.NewCond(&run.mu)
	var wg sync.WaitGroup
	for b, bk := range r.bks {
		var keepIn *keepTarget
		if kept != nil && b < len(keep) && keep[b] {
			keepIn = &keepTarget{layout: kept, store: store}
			if bk.ExportsToLayout() {
				keepIn.from = r.loader.Layout()
			}
		}
		for range r.parallel[b] {
			wg.Go(func() { run.slot(ctx, b, bk, roots, req.BuildCache, keepIn) })
		}
	}
	wg.Wait()
	for _, p := range run.sched.stranded() {
		run.errs = append(run.errs, fmt.Errorf("%s %s: not built: no builder is left (%w)", p.Kind, p.For, errors.Join(run.lost...)))
	}
	if err := run.view.Close(); err != nil {
		run.errs = append(run.errs, err)
	}
	if r.loader != nil {
		fmt.Fprintln(progress, layoutLine(r.loader))
		// What earlier builds of these images left in the layout goes, unless another run
		// has the layout open. The images kept from it are links of their own.
		if _, removed, freed, err := r.loader.Layout().Prune(); err != nil {
			fmt.Fprintf(progress, "builds: %v (the images are built; the layout only keeps more than it needs)\n", err)
		} else if removed > 0 {
			fmt.Fprintf(progress, "builds: removed %d blobs (%.1f MB) no image uses any more from %s\n", removed, float64(freed)/1e6, r.loader.Layout().Dir())
		}
	}
	return run.built, errors.Join(run.errs...)
}

// keepTarget is where one builder's images are kept: the build cache's layout, and for a
// builder exporting into the run's OCI layout, that layout (from) and the engine's image store
// (which says what the engine's ID of an image of the layout is).
type keepTarget struct {
	layout *ocilayout.Layout
	from   *ocilayout.Layout
	store  engine.ImageStore
}

// keepFromLayout puts the image name, just built into the run's OCI layout and loaded into the
// engine with the ID id, into the build cache's layout, and returns its manifest there. An
// image of that name in the run's layout whose ID is another (another run built it meanwhile)
// is not kept: ok false.
func (k *keepTarget) keepFromLayout(name, id string) (manifest ocispec.Descriptor, ok bool, err error) {
	img, _, err := ocilayout.CopyImage(k.from, k.layout, name)
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("keep image %s in the build cache: %w", name, err)
	}
	if engineIDOf(img, k.store) != id {
		return ocispec.Descriptor{}, false, nil
	}
	return img.Manifest, true, nil
}

// engineIDOf is the ID an engine with store gives img when it loads it from a layout: its
// manifest's digest on the containerd store, its config's on the classic one.
func engineIDOf(img ocilayout.Image, store engine.ImageStore) string {
	if store == engine.ContainerdStore {
		return img.Manifest.Digest.String()
	}
	return img.Config.Digest.String()
}

// noCacheExport refuses BUILD_CACHE on bk, a BuildKit inside an engine on the classic image
// store, which has no cache exporter, before anything is built.
func noCacheExport(req Request, bk *buildkit.Builder) error {
	if len(req.Builders) > 0 {
		return fmt.Errorf("%s is set, but builder %s cannot export or import a build cache (an engine's own BuildKit does so only on the containerd image store): enable the containerd image store on that engine, take it out of %s or list a buildkitd instead, or unset %s", buildkit.CacheVariable, bk.Where, BuildersVariable, buildkit.CacheVariable)
	}
	return fmt.Errorf("%s is set, but %s cannot export or import a build cache (the engine's own BuildKit does so only on the containerd image store): enable the containerd image store, set %s to a standalone buildkitd, or unset %s", buildkit.CacheVariable, bk.Where, buildkit.HostVariable, buildkit.CacheVariable)
}

// layoutLine says what went through the run's OCI layout: the bytes the buildkitds sent into
// it (blobs it lacked) and those sent on to the engine (layers it lacked).
func layoutLine(l *ocilayout.Loader) string {
	return fmt.Sprintf("builds: %.1f MB from the builders into %s, %.1f MB loaded into the engine (%.1f MB of layers it had left out)",
		float64(l.Layout().Received())/1e6, l.Layout().Dir(), float64(l.Sent())/1e6, float64(l.Omitted())/1e6)
}

// spread is one run's images over its builders: the scheduler's state and what came of each
// image, under one lock; ready wakes the slots waiting for images that may come back.
type spread struct {
	mu    sync.Mutex
	ready *sync.Cond
	sched *scheduler
	view  *buildkit.View
	built map[string]builtImage
	errs  []error // the images' failures
	lost  []error // why each lost builder was found lost
}

// slot is one of builder b's parallel slots: it builds the images the scheduler gives it until
// none is left for b. With keep set, each image is also kept there.
func (r *spread) slot(ctx context.Context, b int, bk *buildkit.Builder, roots map[string]string, cache string, keep *keepTarget) {
	var keepIn content.Store // the engine's BuildKit: a second exporter into the kept layout
	if keep != nil && keep.from == nil {
		keepIn = keep.layout.Store()
	}
	for {
		r.mu.Lock()
		p, ok, wait := r.sched.next(b)
		for !ok && wait {
			r.ready.Wait()
			p, ok, wait = r.sched.next(b)
		}
		r.mu.Unlock()
		if !ok {
			return
		}
		id, steps, err := buildOnBuildKit(ctx, bk, p.ImageBuild, roots[p.Name], cache, keepIn, r.view)
		built := builtImage{ID: id, Steps: steps, Where: bk.Where, Kept: keep != nil}
		var keepErr error
		if err == nil && keep != nil && keep.from != nil {
			// From the run's layout, while the other slots build on.
			built.Manifest, built.Kept, keepErr = keep.keepFromLayout(p.Name, id)
			if !built.Kept && keepErr == nil {
				r.view.Print(fmt.Sprintf("builds: %s is not kept in %s: the run's OCI layout names another image %s (another run built it meanwhile); it is built again next time\n", p.Name, buildkit.CacheVariable, p.Name))
			}
		}
		// A failed build on a builder that no longer answers is the builder's failure, not
		// the image's (Build asked it): the image goes to another builder, its line says so
		// after the line naming the lost builder. One that answers had a build error.
		var gone *buildkit.LostError
		errors.As(err, &gone)
		r.mu.Lock()
		if r.sched.finish(b, p, gone != nil) {
			r.lost = append(r.lost, gone.Err)
			r.view.Print(fmt.Sprintf("builds: lost %s mid-run (%v): its images go to the other builders\n", bk.Where, gone.Err))
		}
		switch {
		case gone != nil:
			r.view.Requeued(p.Name, bk.Where)
		case err != nil:
			tail := &tailWriter{max: 20}
			io.WriteString(tail, steps.Failed)
			r.errs = append(r.errs, buildFailure(p.ImageBuild, err, tail.String()))
		default:
			r.built[p.Name] = built
			if keepErr != nil {
				r.errs = append(r.errs, keepErr)
			}
		}
		r.ready.Broadcast()
		r.mu.Unlock()
	}
}

// chooseBuilders connects to the builders BUILDERS lists and returns those that answer, with
// how many images each builds at once; one that does not is named once on progress and left
// out, and the run fails only when none answers. A docker+ entry that is the bundling engine
// is its own BuildKit, and an engine listed twice is one builder (sameEngines), each said in a
// line. Without BUILDERS, the one chooseBuilder picks. nil (and no error) means the classic
// builder.
func chooseBuilders(ctx context.Context, api client.APIClient, req Request, progress io.Writer) ([]*buildkit.Builder, []int, error) {
	if len(req.Builders) == 0 {
		bk, err := chooseBuilder(ctx, api, req, progress)
		if bk == nil || err != nil {
			return nil, nil, err
		}
		return []*buildkit.Builder{bk}, []int{concurrentBuilds}, nil
	}
	if req.BuildKitHost != "" || req.Builder == BuilderClassic {
		return nil, nil, fmt.Errorf("%s lists builders, and %s or %s=%s names another: set one of them", BuildersVariable, buildkit.HostVariable, BuilderVariable, BuilderClassic)
	}
	entries := make([]builderEntry, len(req.Builders))
	for i, item := range req.Builders {
		e, err := parseBuilderEntry(item)
		if err != nil {
			return nil, nil, err
		}
		entries[i] = e
	}
	// The engines among them say which engine they are first: one that is the bundling engine,
	// or that an earlier entry names too, is not another builder (sameEngines).
	others, failed, err := engineIDs(ctx, api, entries)
	if err != nil {
		return nil, nil, err
	}
	uses, sameNotes := sameEngines(entries, others.ids, others.self)
	// Asked at once: one that does not answer costs its probe's time once, not once per entry.
	connected := make([]*buildkit.Builder, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		if failed[i] != nil {
			continue
		}
		if h := others.handles[i]; h != nil && uses[i] != useAsListed {
			// Not another builder: the run's own handle (api) is the one images land through.
			h.Close()
		}
		switch uses[i] {
		case useNot:
		case useOwnBuildKit:
			wg.Go(func() { connected[i], failed[i] = buildkit.Connect(ctx, api, "") })
		default:
			wg.Go(func() { connected[i], failed[i] = connectEntry(ctx, api, e, others.handles[i]) })
		}
	}
	wg.Wait()
	var (
		bks      []*buildkit.Builder
		parallel []int
		silent   []error // one per builder that does not answer, named
		notes    = sameNotes
	)
	for i, e := range entries {
		if uses[i] == useNot {
			continue
		}
		if failed[i] == nil {
			bks, parallel = append(bks, connected[i]), append(parallel, e.Parallel)
			continue
		}
		why := failed[i]
		if na := (*buildkit.NoAnswerError)(nil); errors.As(why, &na) {
			why = na.Err
		}
		silent = append(silent, fmt.Errorf("%s: %w", e.name(), why))
		notes = append(notes, fmt.Sprintf("builds: builder %s does not answer: %v; building on the others", e.name(), why))
	}
	if len(bks) == 0 {
		return nil, nil, fmt.Errorf("%s: no builder answers (%w)", BuildersVariable, errors.Join(silent...))
	}
	for _, n := range notes {
		req.note(progress, n)
	}
	return bks, parallel, nil
}

// entryEngines are the engines of a run's docker+ entries, by entry: their handles (nil for
// a buildkitd or `engine`) and the IDs they answered, and the bundling engine's ID ("" when no
// docker+ entry answered, and so nothing to compare).
type entryEngines struct {
	handles []*engine.Engine
	ids     []string
	self    string
}

// idTimeout bounds the question "which engine are you" asked each docker+ entry at the start.
const idTimeout = 20 * time.Second

// engineIDs asks every docker+ entry's engine its ID (docker info), all at once; failed[i] says
// why entry i's engine did not answer (its handle is then closed and nil). The error is the
// bundling engine's failure to say its own.
func engineIDs(ctx context.Context, api client.APIClient, entries []builderEntry) (entryEngines, []error, error) {
	out := entryEngines{handles: make([]*engine.Engine, len(entries)), ids: make([]string, len(entries))}
	failed := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		if e.Engine == "" {
			continue
		}
		wg.Go(func() {
			other, err := engine.NewAt(e.Engine)
			if err == nil {
				ictx, cancel := context.WithTimeout(ctx, idTimeout)
				out.ids[i], err = other.ID(ictx)
				cancel()
				if err != nil {
					other.Close()
				}
			}
			if err != nil {
				failed[i] = err
				return
			}
			out.handles[i] = other
		})
	}
	wg.Wait()
	if !slices.ContainsFunc(out.ids, func(id string) bool { return id != "" }) {
		return out, failed, nil
	}
	self, err := engine.Of(api).ID(ctx)
	if err != nil {
		for _, h := range out.handles {
			if h != nil {
				h.Close()
			}
		}
		return out, failed, fmt.Errorf("%s: ask the bundling engine which it is, to tell it from the engines listed: %w", BuildersVariable, err)
	}
	out.self = self
	return out, failed, nil
}

// connectEntry reaches the builder of one BUILDERS entry; other is the handle of a docker+
// entry's engine (engineIDs), which the builder then owns.
func connectEntry(ctx context.Context, api client.APIClient, e builderEntry, other *engine.Engine) (*buildkit.Builder, error) {
	switch {
	case other != nil:
		bk, err := buildkit.ConnectEngine(ctx, api, other, e.name())
		if err != nil {
			other.Close()
		}
		return bk, err
	case e.Host == EngineBuilder:
		return buildkit.Connect(ctx, api, "")
	}
	return buildkit.Connect(ctx, api, e.Host)
}

// BuildersVariable lists several BuildKit builders (BUILDKIT_HOST addresses, EngineBuilder for
// the engine's own, EnginePrefix and another engine's DOCKER_HOST) that share a run's images.
const BuildersVariable = "BUILDERS"

// EngineBuilder stands for the engine's own BuildKit in BUILDERS.
const EngineBuilder = "engine"

// chooseBuilder connects to BuildKit as req asks; nil (with a line saying so) means the classic
// builder.
func chooseBuilder(ctx context.Context, api client.APIClient, req Request, progress io.Writer) (*buildkit.Builder, error) {
	noCache := func() error {
		if req.BuildCache == "" {
			return nil
		}
		return fmt.Errorf("%s is set, but the classic builder has no build cache to import or export: use an engine with BuildKit, or set %s to a buildkitd, or unset %s", buildkit.CacheVariable, buildkit.HostVariable, buildkit.CacheVariable)
	}
	switch req.Builder {
	case BuilderClassic:
		return nil, noCache()
	case BuilderAuto, BuilderBuildKit:
	default:
		return nil, fmt.Errorf("%s=%q: use %s or %s (or leave it unset: BuildKit where the engine has it)", BuilderVariable, req.Builder, BuilderBuildKit, BuilderClassic)
	}
	bk, err := buildkit.Connect(ctx, api, req.BuildKitHost)
	switch {
	case err == nil:
		return bk, nil
	case req.Builder == BuilderBuildKit || req.BuildKitHost != "":
		return nil, fmt.Errorf("%w (%s asks for BuildKit: unset it to fall back to the classic builder)", err, cmpNonEmpty(req.BuildKitHost != "", buildkit.HostVariable, BuilderVariable))
	}
	req.note(progress, fmt.Sprintf("builds: the classic builder, one image at a time (%v; enable BuildKit in the engine for concurrent builds)", err))
	return nil, noCache()
}

func cmpNonEmpty(first bool, a, b string) string {
	if first {
		return a
	}
	return b
}

// buildClassic builds the images one after the other with the classic builder.
func buildClassic(ctx context.Context, api client.APIClient, todo []pendingBuild, roots map[string]string, progress io.Writer) (map[string]builtImage, error) {
	built := map[string]builtImage{}
	for _, p := range todo {
		id, err := buildImage(ctx, api, p.ImageBuild, roots[p.Name], progress)
		if err != nil {
			return built, err
		}
		built[p.Name] = builtImage{ID: id}
	}
	return built, nil
}

// buildOnBuildKit lays b's context out in a temporary directory (the same files the classic
// builder receives as a tar) and builds it there with the Dockerfile frontend.
// With keepIn set, the image is also exported into that store (buildkit.Build.KeepIn).
func buildOnBuildKit(ctx context.Context, bk *buildkit.Builder, b ImageBuild, root, cache string, keepIn content.Store, view *buildkit.View) (string, buildkit.Steps, error) {
	dir, err := os.MkdirTemp("", "dindbundler-context-")
	if err != nil {
		return "", buildkit.Steps{}, fmt.Errorf("make a directory for the build context: %w", err)
	}
	defer os.RemoveAll(dir)
	if b.DockerfileTextBuildKit != "" {
		b.DockerfileText = b.DockerfileTextBuildKit
	}
	if err := contextDir(b, root, dir); err != nil {
		return "", buildkit.Steps{}, err
	}
	from, to, err := buildkit.ImageCache(cache, b.Name)
	if err != nil {
		return "", buildkit.Steps{}, err
	}
	return bk.Build(ctx, buildkit.Build{
		Name: b.Name, ContextDir: dir, Dockerfile: b.Dockerfile, BuildArgs: b.BuildArgs, Labels: b.Labels,
		Platform: b.Platform, Target: b.Target, CacheFrom: from, CacheTo: to, KeepIn: keepIn,
	}, view)
}

// contextDir writes b's build context into dir: writeContext's tar, unpacked.
func contextDir(b ImageBuild, root, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContext(pw, b, root)) }()
	err := untar(pr, dir)
	pr.CloseWithError(errBuildDone)
	if err != nil {
		return fmt.Errorf("lay out the build context of %s: %w", b.Name, err)
	}
	return nil
}

// untar unpacks a tar of writeContext's (directories, regular files, symbolic links) into dir.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("context entry %q leaves the context", h.Name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			err = os.Chmod(p, os.FileMode(h.Mode).Perm()|0o700)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			err = writeFile(p, tr, os.FileMode(h.Mode).Perm())
		default:
			err = fmt.Errorf("context entry %q: unexpected tar type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeSymlink {
			if err := os.Chtimes(p, h.ModTime, h.ModTime); err != nil {
				return err
			}
		}
	}
}

func writeFile(p string, r io.Reader, perm os.FileMode) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
