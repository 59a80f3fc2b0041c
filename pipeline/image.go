package pipeline

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/confine"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/madeimages"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/registry"
	"github.com/dindbundler/dindbundler/internal/registrybin"
	"github.com/dindbundler/dindbundler/internal/userfile"
)

// Image builds the bundle image. Its image layer files come from a "layers image" loaded into
// the engine directly (base + one layer per group of layer files, reusing the layers the engine
// has from the last build), and the stack's small files are one more layer put together without
// a builder (assemble); when the engine cannot take such a partial load, the classic builder
// runs dind/Dockerfile on a context that carries the layer files instead.
func (b *Bundler) Image(ctx context.Context) error {
	m, err := b.readMerged()
	if err != nil {
		return err
	}
	set, store, err := b.readSet(m)
	if err != nil {
		return err
	}
	api, err := b.docker()
	if err != nil {
		return err
	}
	baseID, err := b.baseImageID(ctx)
	if err != nil {
		return err
	}
	reg, err := b.registryPlan(ctx, api, set, store, baseID)
	if err != nil {
		return err
	}
	entries, args, err := b.contextPlan(m, set, store, reg, false)
	if err != nil {
		return err
	}
	state, err := fresh.ReadState(b.statePath("image"))
	if err != nil {
		return err
	}
	fingerprint, inputs, err := buildctx.Fingerprint(entries, state.Inputs)
	if err != nil {
		return err
	}
	setJSON, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	// By name, so the reason says which changed.
	settings := map[string]string{
		"the bundle's files (compose file, config, .env, certificates, their owner RUN_UID/RUN_GID)": fingerprint,
		"DIND_BASE_IMAGE (or its image ID)":  b.Config.DindBaseImage + " " + baseID,
		"BUNDLE_TAG":                         b.Config.BundleTag,
		"dind/Dockerfile's runtime settings": fmt.Sprint(sortedPairs(args)),
		"the bundled images":                 string(setJSON),
	}
	current, _, err := engine.ImageIDs(ctx, api, []string{b.Config.BundleTag})
	if err != nil {
		return err
	}
	p := b.planImage(state, fresh.SettingHashes(settings), current)
	made := b.madeImages()
	// Images recorded by the stage's earlier versions are this build directory's too.
	if err := made.Add(state.Output, b.layersImageID()); err != nil {
		return err
	}
	p.Do = func(ctx context.Context) error {
		return b.buildImage(ctx, api, p.Decision, imageBuild{m: m, set: set, store: store, reg: reg, baseID: baseID, entries: entries, args: args, settings: settings, inputs: inputs})
	}
	if err := b.carry(ctx, "image", p); err != nil {
		return err
	}
	if p.Fresh {
		b.sweepImages(ctx, api, current[b.Config.BundleTag])
	}
	return nil
}

// planImage is the Image stage's decision: the bundle image is fresh when BUNDLE_TAG still has
// the ID the last build recorded, made from the same settings (hashed, by name). With settings
// or current nil (a dry run: the context is not planned and the daemon is not asked) only FORCE
// and the record are looked at; the plan says what waits for the real run.
func (b *Bundler) planImage(state fresh.State, settings, current map[string]string) fresh.Plan {
	tag := b.Config.BundleTag
	facts := fresh.Facts{Force: b.Config.Force, Output: tag, OutputExists: true, RecordedSettings: state.Settings, CurrentSettings: settings}
	if current != nil {
		facts.OutputExists = current[tag] != ""
		facts.Recorded, facts.Current = map[string]string{tag: state.Output}, current
	}
	p := fresh.Plan{Work: "build " + tag, Inputs: []string{b.statePath("image")}}
	if settings == nil || current == nil {
		p.Pending = "its context fingerprint and image ID, checked against the last build in the daemon"
		if state.Settings == nil {
			facts.CurrentSettings = map[string]string{} // nothing recorded: built again whatever they are
		}
	}
	p.Decision = fresh.Decide(facts)
	return p
}

// imageBuild is what the Image stage planned before deciding, which its work uses.
type imageBuild struct {
	m              manifest.Manifest
	set            layerstore.Set
	store          *layerstore.Store
	reg            registryPlan
	baseID         string
	entries        []buildctx.Entry
	args, settings map[string]string
	inputs         map[string]fresh.FileRecord // the context's files as fingerprinted
}

// buildImage builds the bundle image (the Image stage's work): the layers image and one more
// layer, or the classic builder when the engine cannot take a partial load.
func (b *Bundler) buildImage(ctx context.Context, api *engine.Engine, d fresh.Decision, in imageBuild) error {
	m, set, store, reg, baseID, entries, args, settings, inputs := in.m, in.set, in.store, in.reg, in.baseID, in.entries, in.args, in.settings, in.inputs
	made := b.madeImages()
	b.logf("image: building %s, %s", b.Config.BundleTag, d.Reason)
	if err := fresh.RemoveState(b.statePath("image")); err != nil {
		return err
	}
	var id string
	li, err := b.layersImage(ctx, api, set, store, baseID)
	switch {
	case err != nil:
		b.logf("image: %v; the build context carries the image layers instead (slower: every layer file is sent and copied again)", err)
		if entries, args, err = b.contextPlan(m, set, store, reg, true); err != nil {
			return err
		}
		if id, err = b.build(ctx, api, entries, args); err == nil {
			err = made.Add(id)
		}
	default:
		// No builder: on the containerd store the classic builder commits each Dockerfile step
		// with a diff of the whole image (seconds each), on the classic store its 17 steps cost
		// about a second and a half, as much as docker build of a small stack's whole context.
		// The top layer and the configuration are put together directly.
		id, err = b.assemble(ctx, api, entries, args, li, store, set.Compression)
	}
	if err != nil {
		return err
	}
	b.logf("image: built %s (%s)", b.Config.BundleTag, id)
	if err := fresh.WriteState(b.statePath("image"), fresh.State{Settings: fresh.SettingHashes(settings), Output: id, Inputs: inputs}); err != nil {
		return err
	}
	b.sweepImages(ctx, api, id)
	if removed, freed, err := store.GC(set); err != nil {
		b.logf("image: %v", err)
	} else if removed > 0 {
		b.logf("image: removed %d unused files (%d MB) from %s", removed, freed>>20, store.Dir)
	}
	return nil
}

// build runs the classic builder on the context entries.
func (b *Bundler) build(ctx context.Context, api client.APIClient, entries []buildctx.Entry, args map[string]string) (string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(buildctx.Write(pw, entries)) }()
	id, err := engine.Build(ctx, api, pr, engine.BuildOptions{Tag: b.Config.BundleTag, BuildArgs: args}, b.progress())
	pr.CloseWithError(errors.New("build finished"))
	return id, err
}

// assemble puts the bundle image together without a builder: the layers image plus one layer
// with the context's files where dind/Dockerfile copies them (the directories they pass through
// as the base has them), and the Dockerfile's runtime
// configuration (bundleRuntime), loaded as an archive that carries only that layer (an OCI
// layout on the containerd store, a docker-save archive on the classic one), then tagged.
func (b *Bundler) assemble(ctx context.Context, api client.APIClient, entries []buildctx.Entry, args map[string]string, li bundleimage.Layers, store *layerstore.Store, c layerstore.Compression) (string, error) {
	layer := buildctx.Layer(entries, b.Config.CertTarget)
	// The directories the layer only passes through (/root, /usr/local/bin) as the base has
	// them: the engine would otherwise make them 0755 and hide the base's (COPY keeps them).
	// The layers image adds only /images, so the base says it.
	parents, err := engine.PathHeaders(ctx, api, li.Base.ID, buildctx.Parents(layer))
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	base := map[string]buildctx.Entry{}
	for p, h := range parents {
		base[p] = buildctx.Entry{Dir: h.Typeflag == tar.TypeDir, Mode: fs.FileMode(h.Mode).Perm(), UID: h.Uid, GID: h.Gid}
	}
	var top bytes.Buffer // the stack's files only: the image layers are in the layers image
	if err := buildctx.Write(&top, buildctx.WithParents(layer, base)); err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	pr, pw := io.Pipe()
	var id string
	go func() {
		var err error
		runtime := func(rc map[string]any) { bundleRuntime(rc, args["BUNDLE_PROJECT"]) }
		const createdBy = "dindbundler: the stack's files (dind/Dockerfile)"
		id, err = bundleimage.WriteTop(pw, li, store, c, top.Bytes(), createdBy, runtime)
		if err == nil {
			err = b.madeImages().Add(id) // before the load can complete (see LayersRequest.Made)
		}
		pw.CloseWithError(err)
	}()
	err = engine.Load(ctx, api, pr, nil)
	pr.CloseWithError(errors.New("load finished"))
	if err != nil {
		return "", fmt.Errorf("load the bundle image: %w", err)
	}
	info, found, err := engine.Inspect(ctx, api, id)
	if err == nil && !found {
		err = fmt.Errorf("the engine has no image %s after the load", id)
	}
	if err != nil {
		return "", fmt.Errorf("load the bundle image: %w", err)
	}
	if want := len(bundleimage.ChainLayers(li.Base.DiffIDs, li.Groups)) + 1; len(info.RootFS.Layers) != want {
		return "", fmt.Errorf("load the bundle image: %s has %d layers, not %d", id, len(info.RootFS.Layers), want)
	}
	if err := engine.Tag(ctx, api, id, b.Config.BundleTag); err != nil {
		return "", fmt.Errorf("the bundle image: %w", err)
	}
	return id, nil
}

// bundleRuntime sets in an image's runtime configuration what dind/Dockerfile's ENV, VOLUME,
// STOPSIGNAL, HEALTHCHECK, ENTRYPOINT and CMD set (TestAssembledLikeBuilt, on every engine, builds
// the bundle both ways from one context and compares configuration, files and layers).
func bundleRuntime(rc map[string]any, project string) {
	var env []any
	for _, e := range asList(rc["Env"]) {
		if s, _ := e.(string); !strings.HasPrefix(s, "BUNDLE_PROJECT=") {
			env = append(env, e)
		}
	}
	rc["Env"] = append(env, "BUNDLE_PROJECT="+project)
	volumes, _ := rc["Volumes"].(map[string]any)
	if volumes == nil {
		volumes = map[string]any{}
	}
	volumes["/var/lib/docker"] = map[string]any{}
	rc["Volumes"] = volumes
	rc["StopSignal"] = "SIGTERM"
	rc["Healthcheck"] = map[string]any{
		"Test":     []string{"CMD", dind.EntrypointPath, "health"},
		"Interval": 10 * time.Second, "Timeout": 20 * time.Second, "StartPeriod": 300 * time.Second, "Retries": 3,
	}
	rc["Entrypoint"] = []string{dind.EntrypointPath}
	rc["Cmd"] = []string{}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// layersImage makes sure the engine has the layers image for set and returns it (see
// bundleimage.LayersImage); the chain of the last one is recorded with the stage's state.
func (b *Bundler) layersImage(ctx context.Context, api *engine.Engine, set layerstore.Set, store *layerstore.Store, baseID string) (bundleimage.Layers, error) {
	return bundleimage.LayersImage(ctx, api, bundleimage.LayersRequest{
		Set: set, Store: store, BaseRef: b.Config.DindBaseImage, BaseID: baseID,
		ChainPath: b.statePath("layers"), Force: b.Config.Force,
		Logf:           func(format string, args ...any) { b.logf("image: "+format, args...) },
		BaseLayersPath: b.statePath("layers-base"), BaseLayersCache: b.Config.CacheDir,
		Progress: b.progress(), Made: func(id string) error { return b.madeImages().Add(id) },
	})
}

// madeImages is the list of the images this build directory made (bundle and layers images).
func (b *Bundler) madeImages() madeimages.Journal {
	return madeimages.Journal{Path: b.statePath("made-images")}
}

// layersImageID is the layers image the Image stage recorded last ("" when none).
func (b *Bundler) layersImageID() string {
	chain, err := bundleimage.ReadChain(b.statePath("layers"))
	if err != nil {
		return ""
	}
	return chain.Image
}

// sweepImages removes the images this build directory made that the bundle (bundleID) and the
// next build (the recorded layers image) no longer need: replaced bundle and layers images, and
// those of interrupted runs. A tagged image is never removed, nor one a container uses: that one
// is only disk space, and is tried again next run.
func (b *Bundler) sweepImages(ctx context.Context, api client.APIClient, bundleID string) {
	removed, err := b.madeImages().Sweep(ctx, api, bundleID, b.layersImageID())
	if removed > 0 {
		b.logf("image: removed %d replaced images this build directory made", removed)
	}
	if err != nil {
		b.logf("image: warning: replaced images stay in the engine: %v", err)
	}
}

// contextPlan lists the bundle context and the build arguments.
func (b *Bundler) contextPlan(m manifest.Manifest, set layerstore.Set, store *layerstore.Store, reg registryPlan, withLayers bool) ([]buildctx.Entry, map[string]string, error) {
	c := b.Config
	if _, err := os.Stat(c.ComposeFile); err != nil {
		return nil, nil, fmt.Errorf("image: compose file %s not found: set COMPOSE_FILE", c.ComposeFile)
	}
	certFiles, err := certs.BundleFiles(c.CertDir)
	if err != nil {
		return nil, nil, fmt.Errorf("image: %w", err)
	}
	dotEnv, err := b.bundleDotEnv()
	if err != nil {
		return nil, nil, err
	}
	root, err := confine.Root(c.WorkDir, c.ProjectRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("image: %w", err)
	}
	stack, err := b.carryStack(root, dotEnv)
	if err != nil {
		return nil, nil, err
	}
	// Boot loads what compose runs and what the registry does not serve; the rest is pulled.
	boot, pulled := bundleimage.Boot(set, reg.served, stack.images)
	_, served := bundleimage.Boot(set, reg.served, nil)
	stream, err := bundleimage.StreamFiles(boot, store)
	if err != nil {
		return nil, nil, err
	}
	entries, err := buildctx.Plan(buildctx.Bundle{
		Dockerfile: dind.Dockerfile, Entrypoint: dind.Entrypoint,
		ComposeFile: c.ComposeFile, ConfigDir: c.ConfigDir, RuntimeConfigDir: b.mergedRuntimeConfig(), Root: root, DotEnv: dotEnv,
		Manifest: identified(m, set),
		CertDir:  c.CertDir, CertFiles: certFiles, RunUID: c.RunUID, RunGID: c.RunGID,
		Images: append(bundleimage.ContextEntries(set, boot, store, withLayers), stream...), Stack: stack.Carried,
		Parts: dind.RuntimeFiles(), RegistryBinary: reg.binary, RegistryIndex: reg.index,
		Served: buildctx.ServedList(served, pulled),
	})
	if err != nil {
		return nil, nil, err
	}
	args := map[string]string{
		"DIND_BASE_IMAGE": c.DindBaseImage,
		"RUN_UID":         strconv.Itoa(c.RunUID),
		"RUN_GID":         strconv.Itoa(c.RunGID),
		"CERT_TARGET":     c.CertTarget,
		"BUNDLE_PROJECT":  m.Build.Project,
	}
	return entries, args, nil
}

// mergedRuntimeConfig is the Manifest stage's merged runtime config directory, "" when it made
// none.
func (b *Bundler) mergedRuntimeConfig() string {
	dir := b.Config.Layout().MergedRuntimeConfig()
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	return ""
}

// bundleStack is the compose file as the bundle carries it, and the images its services run.
type bundleStack struct {
	buildctx.Carried
	images []string
}

// carryStack plans the copies of the host files the compose file reads at run time (bind
// mounts, env_file, secrets and configs files) and says which host paths the bundle cannot carry.
// Its variables are resolved as the bundle's compose resolves them at boot: from the bundle's .env.
func (b *Bundler) carryStack(root string, dotEnv []byte) (bundleStack, error) {
	c := b.Config
	vars, err := config.ParseEnv(string(dotEnv))
	if err != nil {
		vars = nil // unresolvable references are then listed as warnings
	}
	data, err := userfile.ReadFile("compose file", c.ComposeFile)
	if err != nil {
		return bundleStack{}, fmt.Errorf("image: read compose file %s: %w", c.ComposeFile, err)
	}
	doc, err := compose.References(data, filepath.Dir(c.ComposeFile), vars)
	if err != nil {
		return bundleStack{}, fmt.Errorf("image: compose file %s: %w", c.ComposeFile, err)
	}
	stack, err := buildctx.Carry(doc, buildctx.Stack{Root: root, ConfigDir: c.ConfigDir, DotEnv: c.DotEnvPath, CertTarget: c.CertTarget})
	if err != nil {
		return bundleStack{}, fmt.Errorf("image: compose file %s: %w", c.ComposeFile, err)
	}
	for _, w := range stack.Warnings {
		b.logf("image: warning: %s", w)
	}
	// The images compose runs are loaded at boot even when the registry serves them.
	f, err := compose.Parse(data, filepath.Dir(c.ComposeFile), vars)
	if err != nil {
		return bundleStack{}, fmt.Errorf("image: compose file %s: %w", c.ComposeFile, err)
	}
	out := bundleStack{Carried: stack}
	for _, s := range f.Services {
		if s.Image != "" {
			out.images = append(out.images, s.Image)
		}
	}
	return out, nil
}

// bundleDotEnv is the bundle's .env. Without a project .env the generated one (random storage
// keys) is kept under the build directory, so the keys stay the same from one build to the next.
func (b *Bundler) bundleDotEnv() ([]byte, error) {
	c := b.Config
	if project, err := userfile.ReadFile("the project's .env", c.DotEnvPath); err == nil {
		return buildctx.DotEnv(project, c.Env, c.CertTarget, "", ""), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", c.DotEnvPath, err)
	}
	kept := c.Layout().GeneratedEnv()
	if data, err := os.ReadFile(kept); err == nil {
		if vars, err := config.ParseEnv(string(data)); err == nil && vars["ENV"] == c.Env && vars["CERT_DIR"] == c.CertTarget &&
			keyMatches(c.Vars, "RUSTFS_ACCESS_KEY", vars) && keyMatches(c.Vars, "RUSTFS_SECRET_KEY", vars) {
			return data, nil
		}
	}
	keys := map[string]string{}
	for _, k := range []string{"RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY"} {
		if v := c.Vars[k]; v != "" {
			keys[k] = v
			continue
		}
		v, err := b.secret()
		if err != nil {
			return nil, err
		}
		keys[k] = v
	}
	data := buildctx.DotEnv(nil, c.Env, c.CertTarget, keys["RUSTFS_ACCESS_KEY"], keys["RUSTFS_SECRET_KEY"])
	if err := writePrivate(kept, data); err != nil {
		return nil, err
	}
	return data, nil
}

// keyMatches: a key set in the environment must be the one kept; an unset one may be anything.
func keyMatches(env map[string]string, key string, kept map[string]string) bool {
	return env[key] == "" || env[key] == kept[key]
}

func (b *Bundler) baseImageID(ctx context.Context) (string, error) {
	api, err := b.docker()
	if err != nil {
		return "", err
	}
	base := b.Config.DindBaseImage
	ids, missing, err := engine.ImageIDs(ctx, api, []string{base})
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		b.logf("image: pulling the base image %s", base)
		if err := engine.Pull(ctx, api, base, b.progress()); err != nil {
			return "", fmt.Errorf("%w (set DIND_BASE_IMAGE to a local image, e.g. one built by go run magefile.go dindbase)", err)
		}
		if ids, _, err = engine.ImageIDs(ctx, api, []string{base}); err != nil {
			return "", err
		}
	}
	return ids[base], nil
}

func (b *Bundler) statePath(stage string) string {
	return b.Config.Layout().StageState(stage)
}

func sortedPairs(m map[string]string) []string {
	pairs := make([]string, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return pairs
}

func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	return atomicfile.Write(path, data, 0o600)
}

// registryPlan is what the bundle's registry needs in the bundle: the images it serves (its
// index's names), the index as app/bundle/registry.json, and the registry binary built for the
// base's platform. All empty when no image is named under CONTAINER_REGISTRY.
type registryPlan struct {
	served []string
	index  []byte
	binary string
}

// registryPlan plans the index of the images named under CONTAINER_REGISTRY and, when it serves
// any, builds (or finds in the cache) the registry binary for the base image's platform.
func (b *Bundler) registryPlan(ctx context.Context, api client.APIClient, set layerstore.Set, store *layerstore.Store, baseID string) (registryPlan, error) {
	addr := b.Config.ContainerRegistry
	if addr == "" {
		return registryPlan{}, nil // no CONTAINER_REGISTRY: function images keep bare names and load at boot
	}
	under := layerstore.Set{Compression: set.Compression}
	for _, img := range set.Images {
		if registry.Serves(addr, img.Name) {
			under.Images = append(under.Images, img)
		}
	}
	if len(under.Images) == 0 {
		return registryPlan{}, nil
	}
	files, err := store.FileDigests(under)
	if err != nil {
		return registryPlan{}, fmt.Errorf("image: the registry's files: %w (run the save stage again)", err)
	}
	idx, err := registry.PlanIndex(addr, under, files)
	if err != nil {
		return registryPlan{}, fmt.Errorf("image: %w (set CONTAINER_REGISTRY to the address the stack pulls its function images from)", err)
	}
	var plan registryPlan
	for _, img := range idx.Images {
		plan.served = append(plan.served, img.Name)
	}
	if plan.index, err = json.MarshalIndent(idx, "", "  "); err != nil {
		return registryPlan{}, fmt.Errorf("image: registry index: %w", err)
	}
	plan.index = append(plan.index, '\n')
	info, found, err := engine.Inspect(ctx, api, baseID)
	if err == nil && !found {
		err = errors.New("not found")
	}
	if err != nil {
		return registryPlan{}, fmt.Errorf("image: inspect the base image %s: %w", b.Config.DindBaseImage, err)
	}
	cache := b.Config.CacheDir
	if cache == "" {
		cache = b.Config.Layout().Cache()
	}
	bin, err := registrybin.Ensure(ctx, registrybin.Request{
		WorkDir: b.Config.WorkDir, CacheDir: cache,
		Platform: registrybin.Platform{Arch: info.Architecture, Variant: info.Variant},
		Logf:     func(format string, args ...any) { b.logf("image: "+format, args...) },
	})
	if err != nil {
		return registryPlan{}, fmt.Errorf("image: %w", err)
	}
	plan.binary = bin.Path
	return plan, nil
}
