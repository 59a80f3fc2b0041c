package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// Image builds the bundle image. Its image layer files come from a "layers image" loaded into
// the engine directly (base + one layer per group of layer files, reusing the layers the engine
// has from the last build), and the build context carries only the small files; when the engine
// cannot take such a partial load, the context carries the layer files instead.
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
	entries, args, err := b.contextPlan(m, set, store, false)
	if err != nil {
		return err
	}
	baseID, err := b.baseImageID(ctx)
	if err != nil {
		return err
	}
	fingerprint, err := buildctx.Fingerprint(entries)
	if err != nil {
		return err
	}
	setJSON, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	key := fresh.Key(fingerprint, baseID, b.Config.BundleTag, fmt.Sprint(sortedPairs(args)), string(setJSON))
	state, err := fresh.ReadState(b.statePath("image"))
	if err != nil {
		return err
	}
	current, _, err := engine.ImageIDs(ctx, api, []string{b.Config.BundleTag})
	if err != nil {
		return err
	}
	d := fresh.Decide(fresh.Facts{
		Force: b.Config.Force, Output: b.Config.BundleTag, OutputExists: current[b.Config.BundleTag] != "",
		RecordedKey: state.Key, CurrentKey: key,
		Recorded: map[string]string{b.Config.BundleTag: state.Output}, Current: current,
	})
	if d.Fresh {
		b.logf("image: skipped, %s", d.Reason)
		return nil
	}
	b.logf("image: building %s, %s", b.Config.BundleTag, d.Reason)
	if err := fresh.RemoveState(b.statePath("image")); err != nil {
		return err
	}
	containerd, err := engine.ContainerdStore(ctx, api)
	if err != nil {
		return err
	}
	var id string
	li, err := b.layersImage(ctx, api, set, store, baseID, containerd)
	switch {
	case err != nil:
		b.logf("image: %v; the build context carries the image layers instead (slower: every layer file is sent and copied again)", err)
		if entries, args, err = b.contextPlan(m, set, store, true); err != nil {
			return err
		}
		id, err = b.build(ctx, api, entries, args)
	case containerd:
		// The classic builder commits each Dockerfile step with a diff of the whole image there
		// (seconds each): the top layer and the configuration are put together directly.
		id, err = b.assemble(ctx, api, entries, args, li, store, set.Compression)
	default:
		args["DIND_BASE_IMAGE"] = li.ID
		id, err = b.build(ctx, api, entries, args)
	}
	if err != nil {
		return err
	}
	b.logf("image: built %s (%s)", b.Config.BundleTag, id)
	if err := fresh.WriteState(b.statePath("image"), fresh.State{Key: key, Output: id}); err != nil {
		return err
	}
	if state.Output != "" && state.Output != id {
		b.removeUntagged(ctx, api, state.Output)
	}
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

// assemble puts the bundle image together without a builder, on an engine with the containerd
// image store: the layers image plus one layer with the context's files where dind/Dockerfile
// copies them, and the Dockerfile's runtime configuration (bundleRuntime), loaded as an OCI
// layout that carries only that layer, then tagged.
func (b *Bundler) assemble(ctx context.Context, api client.APIClient, entries []buildctx.Entry, args map[string]string, li layersImage, store *layerstore.Store, c layerstore.Compression) (string, error) {
	parentConfig, parentLayers, err := layerstore.LayersImageOCI(store, li.Base, li.BaseLayers, li.Groups, c)
	if err != nil {
		return "", err
	}
	var top bytes.Buffer // the stack's files only: the image layers are in the layers image
	if err := buildctx.Write(&top, buildctx.Layer(entries, b.Config.CertTarget)); err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	pr, pw := io.Pipe()
	var id string
	go func() {
		var err error
		id, err = layerstore.WriteTopOCI(pw, parentConfig, parentLayers, top.Bytes(), "dindbundler: the stack's files (dind/Dockerfile)",
			func(rc map[string]any) { bundleRuntime(rc, args["BUNDLE_PROJECT"]) })
		pw.CloseWithError(err)
	}()
	err = engine.Load(ctx, api, pr, nil)
	pr.CloseWithError(errors.New("load finished"))
	if err != nil {
		return "", fmt.Errorf("load the bundle image: %w", err)
	}
	info, err := api.ImageInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("load the bundle image: %w", err)
	}
	if want := len(chainLayers(li.Base.DiffIDs, li.Groups)) + 1; len(info.RootFS.Layers) != want {
		return "", fmt.Errorf("load the bundle image: %s has %d layers, not %d", id, len(info.RootFS.Layers), want)
	}
	if err := api.ImageTag(ctx, id, b.Config.BundleTag); err != nil {
		return "", fmt.Errorf("tag the bundle image %s as %s: %w", id, b.Config.BundleTag, err)
	}
	return id, nil
}

// bundleRuntime sets in an image's runtime configuration what dind/Dockerfile's ENV, VOLUME,
// STOPSIGNAL, HEALTHCHECK, ENTRYPOINT and CMD set (TestAssembledLikeBuilt compares the two).
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
		"Test":     []string{"CMD", buildctx.EntrypointPath, "health"},
		"Interval": 10 * time.Second, "Timeout": 20 * time.Second, "StartPeriod": 300 * time.Second, "Retries": 3,
	}
	rc["Entrypoint"] = []string{buildctx.EntrypointPath}
	rc["Cmd"] = []string{}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// layersImage is the engine's layers image: its ID and what it is made of.
type layersImage struct {
	ID         string
	Base       layerstore.Base
	BaseLayers []layerstore.Descriptor // the base's blobs (containerd image store only)
	Groups     []layerstore.Group
}

// layersImage makes sure the engine has the layers image for set and returns it: the previous
// one when it fits, else a new one loaded with only the layers the engine lacks.
func (b *Bundler) layersImage(ctx context.Context, api client.APIClient, set layerstore.Set, store *layerstore.Store, baseID string, containerd bool) (layersImage, error) {
	baseInfo, err := api.ImageInspect(ctx, baseID)
	if err != nil {
		return layersImage{}, fmt.Errorf("inspect the base image %s: %w", b.Config.DindBaseImage, err)
	}
	base := layerstore.Base{
		Ref: b.Config.DindBaseImage, ID: baseID, DiffIDs: baseInfo.RootFS.Layers, Created: baseInfo.Created,
		OS: baseInfo.Os, Architecture: baseInfo.Architecture, Variant: baseInfo.Variant,
	}
	if baseInfo.Config != nil {
		if base.Config, err = json.Marshal(baseInfo.Config); err != nil {
			return layersImage{}, fmt.Errorf("read the base image's config: %w", err)
		}
	}
	li := layersImage{Base: base}
	if containerd {
		// The containerd image store loads an OCI layout whose manifest names the base's blobs.
		if li.BaseLayers, err = b.baseLayers(ctx, api, base); err != nil {
			return layersImage{}, err
		}
	}
	chainPath := b.statePath("layers")
	prev, err := layerstore.ReadChain(chainPath)
	if err != nil {
		return layersImage{}, err
	}
	var reusable []layerstore.Group
	if !b.Config.Force && prev.Base == baseID && prev.Compression == set.Compression && prev.Image != "" {
		if info, err := api.ImageInspect(ctx, prev.Image); err == nil && slices.Equal(info.RootFS.Layers, chainLayers(base.DiffIDs, prev.Groups)) {
			reusable = prev.Groups
		}
	}
	var live []layerstore.Layer
	for _, d := range set.Layers() {
		size, err := store.LayerSize(d, set.Compression)
		if err != nil {
			return layersImage{}, err
		}
		live = append(live, layerstore.Layer{DiffID: d, Size: size})
	}
	plan := layerstore.PlanChain(reusable, live, layerstore.DefaultLimits(len(base.DiffIDs)))
	if plan.Reuse == len(plan.Groups) && len(plan.Groups) == len(prev.Groups) && reusable != nil {
		b.logf("image: layers image %s is up to date (%d layers)", prev.Image, len(plan.Groups))
		li.ID, li.Groups = prev.Image, prev.Groups
		return li, nil
	}
	b.logf("image: loading the layers image: %d of %d layers to send, %s", len(plan.Groups)-plan.Reuse, len(plan.Groups), plan.Reason)
	if err := fresh.RemoveState(chainPath); err != nil {
		return layersImage{}, err
	}
	write := func(w io.Writer) (string, []layerstore.Group, error) {
		return layerstore.WriteLayersImage(w, store, base, plan, set.Compression)
	}
	if containerd {
		write = func(w io.Writer) (string, []layerstore.Group, error) {
			return layerstore.WriteLayersOCI(w, store, base, li.BaseLayers, plan, set.Compression)
		}
	}
	pr, pw := io.Pipe()
	var id string
	var groups []layerstore.Group
	go func() {
		var err error
		id, groups, err = write(pw)
		pw.CloseWithError(err)
	}()
	err = engine.Load(ctx, api, pr, nil)
	pr.CloseWithError(errors.New("load finished"))
	if err != nil {
		return layersImage{}, fmt.Errorf("load the layers image: %w", err)
	}
	info, err := api.ImageInspect(ctx, id)
	if err != nil {
		return layersImage{}, fmt.Errorf("load the layers image: %w", err)
	}
	if !slices.Equal(info.RootFS.Layers, chainLayers(base.DiffIDs, groups)) {
		return layersImage{}, fmt.Errorf("load the layers image: %s does not have the expected layers", id)
	}
	if err := layerstore.WriteChain(chainPath, layerstore.Chain{Base: baseID, Image: id, Compression: set.Compression, Groups: groups}); err != nil {
		return layersImage{}, err
	}
	li.ID, li.Groups = id, groups
	return li, nil
}

// baseLayers returns the base's layer blobs in the engine's containerd content store, read once
// per base image ID (one pass over the base's blobs) and kept in the build state.
func (b *Bundler) baseLayers(ctx context.Context, api client.APIClient, base layerstore.Base) ([]layerstore.Descriptor, error) {
	type record struct {
		Base   string                  `json:"base"`
		Layers []layerstore.Descriptor `json:"layers"`
	}
	path := b.statePath("layers-base")
	var r record
	if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &r) == nil && r.Base == base.ID && len(r.Layers) == len(base.DiffIDs) {
		return r.Layers, nil
	}
	start := time.Now()
	layers, err := layerstore.BaseLayers(ctx, api, base.ID, base.OS, base.Architecture)
	if err != nil {
		return nil, err
	}
	b.logf("image: read the base image's manifest from the engine in %.1fs (once per base image)", time.Since(start).Seconds())
	if err := atomicfile.WriteJSON(path, record{Base: base.ID, Layers: layers}, 0o644); err != nil {
		return nil, err
	}
	return layers, nil
}

func chainLayers(base []string, groups []layerstore.Group) []string {
	out := append([]string{}, base...)
	for _, g := range groups {
		out = append(out, g.DiffID)
	}
	return out
}

// removeUntagged removes an earlier bundle image once nothing names it (and its untagged
// parents: the builder's steps and a layers image no other image builds on). The engine refuses
// while a container uses it, which is fine: it is only disk space.
func (b *Bundler) removeUntagged(ctx context.Context, api client.APIClient, id string) {
	info, err := api.ImageInspect(ctx, id)
	if err != nil || len(info.RepoTags) > 0 {
		return
	}
	if _, err := api.ImageRemove(ctx, id, image.RemoveOptions{PruneChildren: true}); err != nil {
		b.logf("image: the previous bundle image %s stays: %v", id, err)
	}
}

// contextPlan lists the bundle context and the build arguments.
func (b *Bundler) contextPlan(m manifest.Manifest, set layerstore.Set, store *layerstore.Store, withLayers bool) ([]buildctx.Entry, map[string]string, error) {
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
	stream, err := buildctx.StreamFiles(set, store)
	if err != nil {
		return nil, nil, err
	}
	entries, err := buildctx.Plan(buildctx.Bundle{
		Dockerfile: dind.Dockerfile, Entrypoint: dind.Entrypoint,
		ComposeFile: c.ComposeFile, ConfigDir: c.ConfigDir, DotEnv: dotEnv,
		Manifest: identified(m, set),
		CertDir:  c.CertDir, CertFiles: certFiles, RunUID: c.RunUID, RunGID: c.RunGID,
		Images: append(buildctx.ImageFiles(set, store, withLayers), stream...),
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

// bundleDotEnv is the bundle's .env. Without a project .env the generated one (random storage
// keys) is kept under the build directory, so the keys stay the same from one build to the next.
func (b *Bundler) bundleDotEnv() ([]byte, error) {
	c := b.Config
	if project, err := os.ReadFile(c.DotEnvPath); err == nil {
		return buildctx.DotEnv(project, c.Env, c.CertTarget, "", ""), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", c.DotEnvPath, err)
	}
	kept := filepath.Join(c.StateDir(), "generated.env")
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
	return filepath.Join(b.Config.StateDir(), stage+".json")
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
