package pipeline

import (
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

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/atomicfile"
	"github.com/dindbundler/dindbundler/buildctx"
	"github.com/dindbundler/dindbundler/certs"
	"github.com/dindbundler/dindbundler/config"
	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/engine"
	"github.com/dindbundler/dindbundler/fresh"
	"github.com/dindbundler/dindbundler/layerstore"
	"github.com/dindbundler/dindbundler/manifest"
	"github.com/dindbundler/dindbundler/producer"
)

// Certs checks CERT_DIR. It never creates certificates.
func (b *Bundler) Certs(ctx context.Context) error {
	report, err := certs.Check(b.Config.CertDir, b.now())
	if err != nil {
		return err
	}
	for _, w := range report.Warnings {
		b.logf("certs: warning: %s", w)
	}
	b.logf("certs: %d files in %s checked", len(report.Files), report.Dir)
	return nil
}

// Deploy runs the producer for every template whose manifest is stale.
func (b *Bundler) Deploy(ctx context.Context) error {
	steps, err := producer.Plan(b.Config)
	if err != nil {
		return err
	}
	for _, s := range steps {
		d, err := producer.Check(s, b.Config.Force)
		if err != nil {
			return err
		}
		if d.Fresh {
			b.logf("deploy: %s: skipped, %s", s.Template.Path, d.Reason)
			continue
		}
		b.logf("deploy: %s: producing, %s", s.Template.Path, d.Reason)
		embedded := b.Embedded
		if embedded == nil {
			embedded = b.embeddedProducer
		}
		if err := producer.Run(ctx, b.Config, s, embedded, b.progress(), b.progress()); err != nil {
			return err
		}
	}
	return nil
}

// manifestDecision is the Manifest stage's freshness: the per-template manifests (their paths
// and contents, which are small) are the ones the merged manifest was made from. Contents rather
// than timestamps: a producer run that rebuilt identical images must not cascade into a new
// archive and a new bundle image.
func (b *Bundler) manifestDecision() (fresh.Decision, string, error) {
	parts := []string{}
	for _, t := range b.Config.Templates {
		data, err := os.ReadFile(t.ManifestPath)
		if err != nil {
			return fresh.Decision{}, "", fmt.Errorf("manifest: %w (run the deploy stage first)", err)
		}
		parts = append(parts, t.ManifestPath, string(data))
	}
	key := fresh.Key(parts...)
	out := b.Config.MergedManifestPath()
	exists, mod, err := fresh.Output(out)
	if err != nil {
		return fresh.Decision{}, "", err
	}
	state, err := fresh.ReadState(b.statePath("manifest"))
	if err != nil {
		return fresh.Decision{}, "", err
	}
	return fresh.Decide(fresh.Facts{Force: b.Config.Force, Output: out, OutputExists: exists, OutputTime: mod, RecordedKey: state.Key, CurrentKey: key}), key, nil
}

// Manifest merges the per-template manifests into the bundle's one manifest. A merge equal to
// the manifest already there (but for its timestamp) leaves the file untouched, so the stages
// after it stay fresh.
func (b *Bundler) Manifest(ctx context.Context) error {
	if err := b.Config.RequireTemplates(); err != nil {
		return err
	}
	d, key, err := b.manifestDecision()
	if err != nil {
		return err
	}
	if d.Fresh {
		b.logf("manifest: skipped, %s", d.Reason)
		return nil
	}
	parts := make([]manifest.Manifest, 0, len(b.Config.Templates))
	for _, t := range b.Config.Templates {
		m, err := manifest.Read(t.ManifestPath)
		if err != nil {
			return fmt.Errorf("%w (run the deploy stage for %s)", err, t.Path)
		}
		parts = append(parts, m)
	}
	merged, err := manifest.Merge(parts, b.now())
	if err != nil {
		return fmt.Errorf("merge manifests: %w", err)
	}
	if err := fresh.RemoveState(b.statePath("manifest")); err != nil {
		return err
	}
	out := b.Config.MergedManifestPath()
	previous, err := manifest.Read(out)
	if err == nil && !b.Config.Force {
		// External images the Pull stage resolved keep their IDs.
		manifest.CarryDigests(&merged, previous)
	}
	if err == nil && !b.Config.Force && manifest.Equivalent(merged, previous) {
		b.logf("manifest: unchanged, %s (the per-template manifests were rewritten with the same images)", d.Reason)
	} else {
		b.logf("manifest: merged %d templates, %d images, %s", len(merged.Templates), len(merged.Images), d.Reason)
		if err := manifest.Write(out, merged); err != nil {
			return err
		}
	}
	return fresh.WriteState(b.statePath("manifest"), fresh.State{Key: key})
}

// readMerged reads the bundle's manifest with a hint when it is missing.
func (b *Bundler) readMerged() (manifest.Manifest, error) {
	m, err := manifest.Read(b.Config.MergedManifestPath())
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("%w: run the manifest stage first (go run magefile.go manifest)", err)
	}
	return m, err
}

// Pull fetches the manifest's external images that are missing locally, and records the local ID
// of external images the producer had not seen yet.
func (b *Bundler) Pull(ctx context.Context) error {
	m, err := b.readMerged()
	if err != nil {
		return err
	}
	api, err := b.docker()
	if err != nil {
		return err
	}
	ids, missing, err := engine.ImageIDs(ctx, api, m.Names())
	if err != nil {
		return err
	}
	kinds := map[string]string{}
	for _, img := range m.Images {
		kinds[img.Name] = img.Kind
	}
	var toPull []string
	var problems []error
	for _, name := range missing {
		if kinds[name] == manifest.KindExternal {
			toPull = append(toPull, name)
			continue
		}
		problems = append(problems, fmt.Errorf("image %s (%s) is missing locally: %s", name, kinds[name], whoBuilds(kinds[name])))
	}
	if err := errors.Join(problems...); err != nil {
		return err
	}
	if len(toPull) == 0 {
		b.logf("pull: skipped, all %d images are present locally", len(m.Images))
	}
	for _, name := range toPull {
		b.logf("pull: %s", name)
		if err := engine.Pull(ctx, api, name, b.progress()); err != nil {
			return err
		}
	}
	if len(toPull) > 0 {
		if ids, _, err = engine.ImageIDs(ctx, api, toPull); err != nil {
			return err
		}
	}
	changed := false
	for i, img := range m.Images {
		if img.Kind == manifest.KindExternal && img.Digest == "" && ids[img.Name] != "" {
			m.Images[i].Digest = ids[img.Name]
			changed = true
		}
	}
	if changed {
		return manifest.Write(b.Config.MergedManifestPath(), m)
	}
	return nil
}

func whoBuilds(kind string) string {
	switch kind {
	case manifest.KindFunction, manifest.KindService:
		return "the deploy stage builds it; run it again with FORCE=1 (go run magefile.go deploy)"
	case manifest.KindBase:
		return "the producer built function images from it; pull or build it, then run the deploy stage with FORCE=1"
	default:
		return "check the producer's manifest"
	}
}

// checkDigests compares the daemon's images with the manifest: missing and stale images are
// errors naming each image.
func checkDigests(m manifest.Manifest, ids map[string]string, missing []string) error {
	var problems []error
	for _, name := range missing {
		problems = append(problems, fmt.Errorf("image %s is missing locally: run the pull stage, or the deploy stage with FORCE=1", name))
	}
	for _, img := range m.Images {
		id, ok := ids[img.Name]
		if !ok {
			continue
		}
		if img.Digest == "" {
			problems = append(problems, fmt.Errorf("image %s has no digest in the manifest: run the pull stage", img.Name))
		} else if id != img.Digest {
			problems = append(problems, fmt.Errorf("image %s is stale: local ID %s, manifest digest %s; rebuild it with FORCE=1 (go run magefile.go deploy) or restore the image", img.Name, id, img.Digest))
		}
	}
	return errors.Join(problems...)
}

// Save files every manifest image in the layer store (BUILD_DIR/layers) and writes the set the
// bundle is made of. Only images whose IDs the store does not hold completely are exported, with
// one `docker save`; their layers stream into the store, each kept once by its diffID and
// compressed once.
func (b *Bundler) Save(ctx context.Context) error {
	m, err := b.readMerged()
	if err != nil {
		return err
	}
	api, err := b.docker()
	if err != nil {
		return err
	}
	names := m.Names()
	ids, missing, err := engine.ImageIDs(ctx, api, names)
	if err != nil {
		return err
	}
	if err := checkDigests(m, ids, missing); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	compression, err := layerstore.ParseCompression(b.Config.Compression)
	if err != nil {
		return err
	}
	store, err := layerstore.Open(b.storeDir())
	if err != nil {
		return err
	}
	d, err := b.saveDecision(ids, store)
	if err != nil {
		return err
	}
	if d.Fresh {
		b.logf("save: skipped, %s", d.Reason)
		return nil
	}
	if err := fresh.RemoveState(b.statePath("save")); err != nil {
		return err
	}
	idList := make([]string, 0, len(names))
	for _, n := range names {
		idList = append(idList, ids[n])
	}
	found, absent, err := store.Lookup(idList, compression)
	if err != nil {
		return err
	}
	if b.Config.Force {
		// FORCE ignores every cache, the layer store's too.
		store.Rewrite = true
		found, absent = map[string]layerstore.Image{}, idList
	}
	if len(absent) > 0 {
		want := saveWants(names, ids, absent)
		b.logf("save: exporting %d of %d images into %s, %s", len(want), len(names), store.Dir, d.Reason)
		exported, err := store.Export(ctx, api, want, compression)
		if err != nil {
			return err
		}
		for _, img := range exported {
			found[img.ID] = img
		}
	} else {
		b.logf("save: all %d images are in %s already, %s", len(names), store.Dir, d.Reason)
	}
	set := layerstore.Set{Compression: compression}
	for _, n := range names {
		img := found[ids[n]]
		img.Name = n
		set.Images = append(set.Images, img)
	}
	if err := layerstore.WriteSet(b.setPath(), set); err != nil {
		return err
	}
	b.removeArchives()
	return fresh.WriteState(b.statePath("save"), fresh.State{Key: b.saveKey(names), Images: ids})
}

// saveWants lists, once per image ID in absent, one name to export it by.
func saveWants(names []string, ids map[string]string, absent []string) []layerstore.Want {
	need := map[string]bool{}
	for _, id := range absent {
		need[id] = true
	}
	var want []layerstore.Want
	for _, n := range names {
		if id := ids[n]; need[id] {
			want = append(want, layerstore.Want{Name: n, ID: id})
			need[id] = false
		}
	}
	return want
}

func (b *Bundler) saveKey(names []string) string {
	sorted := append([]string{}, names...)
	sort.Strings(sorted)
	return fresh.Key(append([]string{"layerstore", b.Config.Compression}, sorted...)...)
}

func (b *Bundler) saveDecision(ids map[string]string, store *layerstore.Store) (fresh.Decision, error) {
	out := b.setPath()
	exists, mod, err := fresh.Output(out)
	if err != nil {
		return fresh.Decision{}, err
	}
	state, err := fresh.ReadState(b.statePath("save"))
	if err != nil {
		return fresh.Decision{}, err
	}
	manifestPath := b.Config.MergedManifestPath()
	_, manifestTime, err := fresh.Output(manifestPath)
	if err != nil {
		return fresh.Decision{}, err
	}
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	recorded := state.Images
	if recorded == nil {
		recorded = map[string]string{}
	}
	d := fresh.Decide(fresh.Facts{
		Force: b.Config.Force, Output: out, OutputExists: exists, OutputTime: mod,
		NewestInput: manifestPath, NewestInputTime: manifestTime,
		RecordedKey: state.Key, CurrentKey: b.saveKey(names),
		Recorded: recorded, Current: ids,
	})
	if d.Fresh {
		// The set is only as good as the store files it names.
		set, err := layerstore.ReadSet(out)
		if err != nil || !store.CompleteSet(set) {
			return fresh.Decision{Fresh: false, Reason: "the layer store " + store.Dir + " lacks files of " + out}, nil
		}
	}
	return d, nil
}

// removeArchives deletes the single-archive outputs of earlier versions, so the build directory
// never holds a stale archive that looks like the bundle's images.
func (b *Bundler) removeArchives() {
	for _, c := range []string{config.CompressionNone, config.CompressionGzip, config.CompressionZstd} {
		other := b.Config
		other.Compression = c
		os.Remove(other.ArchivePath())
	}
}

func (b *Bundler) storeDir() string { return filepath.Join(b.Config.BuildDir, "layers") }

// setPath is the Save stage's output: the images of the bundle and their layers.
func (b *Bundler) setPath() string {
	return filepath.Join(filepath.Dir(b.Config.MergedManifestPath()), "images.json")
}

// readSet reads the Save stage's set and checks it against the manifest, the compression and
// the store: Image must never bundle images other than the manifest's.
func (b *Bundler) readSet(m manifest.Manifest) (layerstore.Set, *layerstore.Store, error) {
	again := "run the save stage first (go run magefile.go save)"
	set, err := layerstore.ReadSet(b.setPath())
	if err != nil {
		return set, nil, fmt.Errorf("image: the images of the bundle (%s) are not ready: %w; %s", b.setPath(), err, again)
	}
	if string(set.Compression) != b.Config.Compression {
		return set, nil, fmt.Errorf("image: the saved images are compressed as %s, BUNDLE_COMPRESSION is %s: %s", set.Compression, b.Config.Compression, again)
	}
	var problems []error
	inSet := map[string]string{}
	for _, img := range set.Images {
		inSet[img.Name] = img.ID
	}
	for _, img := range m.Images {
		id, ok := inSet[img.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Errorf("image %s is not among the saved images", img.Name))
		case img.Digest != "" && id != img.Digest:
			problems = append(problems, fmt.Errorf("image %s was saved as %s, the manifest says %s", img.Name, id, img.Digest))
		}
		delete(inSet, img.Name)
	}
	for name := range inSet {
		problems = append(problems, fmt.Errorf("image %s was saved but is not in the manifest", name))
	}
	if err := errors.Join(problems...); err != nil {
		return set, nil, fmt.Errorf("image: %w; %s", err, again)
	}
	store, err := layerstore.Open(b.storeDir())
	if err != nil {
		return set, nil, err
	}
	if !store.CompleteSet(set) {
		return set, nil, fmt.Errorf("image: the layer store %s lacks files of the saved images; %s", store.Dir, again)
	}
	return set, store, nil
}

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
	from, err := b.layersImage(ctx, api, set, store, baseID)
	if err != nil {
		b.logf("image: %v; the build context carries the image layers instead", err)
		if entries, args, err = b.contextPlan(m, set, store, true); err != nil {
			return err
		}
	} else {
		args["DIND_BASE_IMAGE"] = from
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(buildctx.Write(pw, entries)) }()
	id, err := engine.Build(ctx, api, pr, engine.BuildOptions{Tag: b.Config.BundleTag, BuildArgs: args}, b.progress())
	pr.CloseWithError(errors.New("build finished"))
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

// layersImage makes sure the engine has the layers image for set and returns its ID: the
// previous one when it fits, else a new one loaded with only the layers the engine lacks.
func (b *Bundler) layersImage(ctx context.Context, api client.APIClient, set layerstore.Set, store *layerstore.Store, baseID string) (string, error) {
	if info, err := api.Info(ctx); err == nil && containerdStore(info.DriverStatus) {
		return "", errors.New("the engine uses the containerd image store, which needs whole archives")
	}
	baseInfo, err := api.ImageInspect(ctx, baseID)
	if err != nil {
		return "", fmt.Errorf("inspect the base image %s: %w", b.Config.DindBaseImage, err)
	}
	base := layerstore.Base{
		Ref: b.Config.DindBaseImage, ID: baseID, DiffIDs: baseInfo.RootFS.Layers, Created: baseInfo.Created,
		OS: baseInfo.Os, Architecture: baseInfo.Architecture, Variant: baseInfo.Variant,
	}
	if baseInfo.Config != nil {
		if base.Config, err = json.Marshal(baseInfo.Config); err != nil {
			return "", fmt.Errorf("read the base image's config: %w", err)
		}
	}
	chainPath := b.statePath("layers")
	prev, err := layerstore.ReadChain(chainPath)
	if err != nil {
		return "", err
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
			return "", err
		}
		live = append(live, layerstore.Layer{DiffID: d, Size: size})
	}
	plan := layerstore.PlanChain(reusable, live, layerstore.DefaultLimits(len(base.DiffIDs)))
	if plan.Reuse == len(plan.Groups) && len(plan.Groups) == len(prev.Groups) && reusable != nil {
		b.logf("image: layers image %s is up to date (%d layers)", prev.Image, len(plan.Groups))
		return prev.Image, nil
	}
	b.logf("image: loading the layers image: %d of %d layers to send, %s", len(plan.Groups)-plan.Reuse, len(plan.Groups), plan.Reason)
	if err := fresh.RemoveState(chainPath); err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	var id string
	var groups []layerstore.Group
	go func() {
		var err error
		id, groups, err = layerstore.WriteLayersImage(pw, store, base, plan, set.Compression)
		pw.CloseWithError(err)
	}()
	err = engine.Load(ctx, api, pr, nil)
	pr.CloseWithError(errors.New("load finished"))
	if err != nil {
		return "", fmt.Errorf("load the layers image: %w", err)
	}
	info, err := api.ImageInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("load the layers image: %w", err)
	}
	if !slices.Equal(info.RootFS.Layers, chainLayers(base.DiffIDs, groups)) {
		return "", fmt.Errorf("load the layers image: %s does not have the expected layers", id)
	}
	if err := layerstore.WriteChain(chainPath, layerstore.Chain{Base: baseID, Image: id, Compression: set.Compression, Groups: groups}); err != nil {
		return "", err
	}
	return id, nil
}

func chainLayers(base []string, groups []layerstore.Group) []string {
	out := append([]string{}, base...)
	for _, g := range groups {
		out = append(out, g.DiffID)
	}
	return out
}

// containerdStore: the engine keeps images in containerd (docker info: driver-type
// io.containerd.snapshotter.v1), whose `docker load` wants every layer in the archive.
func containerdStore(status [][2]string) bool {
	for _, kv := range status {
		if kv[0] == "driver-type" && strings.Contains(kv[1], "containerd") {
			return true
		}
	}
	return false
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
	entries, err := buildctx.Plan(buildctx.Bundle{
		Dockerfile: dind.Dockerfile, Entrypoint: dind.Entrypoint,
		ComposeFile: c.ComposeFile, ConfigDir: c.ConfigDir, DotEnv: dotEnv,
		ManifestPath: c.MergedManifestPath(), Manifest: m,
		CertDir: c.CertDir, CertFiles: certFiles, RunUID: c.RunUID, RunGID: c.RunGID,
		Images: buildctx.ImageFiles(set, store, withLayers),
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
