package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/madeimages"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// Image builds the bundle image. Its image layer files come from a "layers image" loaded into
// the engine directly (base + one layer per group of layer files, reusing the layers the engine
// has from the last build), and the stack's small files are one more layer put together without
// a builder (bundleimage.Assemble); when the engine cannot take such a partial load, the classic
// builder runs dind/Dockerfile on a context that carries the layer files instead. The stage
// decides and records; package bundleimage plans the context and makes the image.
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
	reg            bundleimage.Registry
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
		id, err = bundleimage.Assemble(ctx, api, bundleimage.AssembleRequest{
			Context: entries, Args: args, CertTarget: b.Config.CertTarget, Layers: li,
			Store: store, Compression: set.Compression,
			Tag: b.Config.BundleTag, Made: func(id string) error { return b.madeImages().Add(id) },
		})
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

// build runs the classic builder on the context entries (bundleimage.Build).
func (b *Bundler) build(ctx context.Context, api client.APIClient, entries []buildctx.Entry, args map[string]string) (string, error) {
	return bundleimage.Build(ctx, api, entries, args, b.Config.BundleTag, b.progress())
}

// layersImage makes sure the engine has the layers image for set and returns it (see
// bundleimage.LayersImage); the chain of the last one is recorded with the stage's state.
func (b *Bundler) layersImage(ctx context.Context, api *engine.Engine, set layerstore.Set, store *layerstore.Store, baseID string) (bundleimage.Layers, error) {
	return bundleimage.LayersImage(ctx, api, bundleimage.LayersRequest{
		Set: set, Store: store, BaseRef: b.Config.DindBaseImage, BaseID: baseID,
		ChainPath: b.statePath("layers"), Force: b.Config.Force,
		Logf:           b.imageLogf,
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

// contextPlan lists the bundle context and the build arguments (bundleimage.PlanContext).
func (b *Bundler) contextPlan(m manifest.Manifest, set layerstore.Set, store *layerstore.Store, reg bundleimage.Registry, withLayers bool) ([]buildctx.Entry, map[string]string, error) {
	c := b.Config
	runtimeConfig := c.Layout().MergedRuntimeConfig() // the Manifest stage's, when it made one
	if st, err := os.Stat(runtimeConfig); err != nil || !st.IsDir() {
		runtimeConfig = ""
	}
	plan, err := bundleimage.PlanContext(bundleimage.ContextRequest{
		Set: set, Store: store, Manifest: identified(m, set), Registry: reg, WithLayers: withLayers,
		DotEnv: buildctx.DotEnvRequest{
			Project: c.DotEnvPath, Kept: c.Layout().GeneratedEnv(), Env: c.Env, CertTarget: c.CertTarget, Vars: c.Vars, Secret: b.secret,
		},
		ComposeFile: c.ComposeFile, ConfigDir: c.ConfigDir, RuntimeConfigDir: runtimeConfig,
		WorkDir: c.WorkDir, ProjectRoot: c.ProjectRoot, CertDir: c.CertDir, CertTarget: c.CertTarget, RunUID: c.RunUID, RunGID: c.RunGID, BaseImage: c.DindBaseImage,
		Logf: b.imageLogf,
	})
	return plan.Entries, plan.Args, err
}

// imageLogf logs a line of the Image stage.
func (b *Bundler) imageLogf(format string, args ...any) { b.logf("image: "+format, args...) }

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

// registryPlan plans what the bundle's registry needs in the bundle (bundleimage.PlanRegistry).
func (b *Bundler) registryPlan(ctx context.Context, api client.APIClient, set layerstore.Set, store *layerstore.Store, baseID string) (bundleimage.Registry, error) {
	cache := b.Config.CacheDir
	if cache == "" {
		cache = b.Config.Layout().Cache()
	}
	return bundleimage.PlanRegistry(ctx, api, bundleimage.RegistryRequest{
		Address: b.Config.ContainerRegistry, Set: set, Store: store, BaseRef: b.Config.DindBaseImage, BaseID: baseID,
		WorkDir: b.Config.WorkDir, CacheDir: cache, Logf: b.imageLogf,
	})
}
