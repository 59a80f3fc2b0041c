package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/dindbundler/dindbundler/atomicfile"
	"github.com/dindbundler/dindbundler/buildctx"
	"github.com/dindbundler/dindbundler/certs"
	"github.com/dindbundler/dindbundler/config"
	"github.com/dindbundler/dindbundler/dind"
	"github.com/dindbundler/dindbundler/engine"
	"github.com/dindbundler/dindbundler/fresh"
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

// Save writes every manifest image into one archive (shared layers once).
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
	archive := b.Config.ArchivePath()
	d, err := b.saveDecision(ids)
	if err != nil {
		return err
	}
	if d.Fresh {
		b.logf("save: skipped, %s", d.Reason)
		return nil
	}
	b.logf("save: %d images → %s, %s", len(names), archive, d.Reason)
	if err := fresh.RemoveState(b.statePath("save")); err != nil {
		return err
	}
	compression, err := engine.ParseCompression(b.Config.Compression)
	if err != nil {
		return err
	}
	if err := engine.Save(ctx, api, names, archive, compression); err != nil {
		return err
	}
	b.removeOtherArchives(archive)
	return fresh.WriteState(b.statePath("save"), fresh.State{Key: fresh.Key(append([]string{b.Config.Compression}, names...)...), Images: ids})
}

func (b *Bundler) saveDecision(ids map[string]string) (fresh.Decision, error) {
	archive := b.Config.ArchivePath()
	exists, mod, err := fresh.Output(archive)
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
	sort.Strings(names)
	recorded := state.Images
	if recorded == nil {
		recorded = map[string]string{}
	}
	return fresh.Decide(fresh.Facts{
		Force: b.Config.Force, Output: archive, OutputExists: exists, OutputTime: mod,
		NewestInput: manifestPath, NewestInputTime: manifestTime,
		RecordedKey: state.Key, CurrentKey: fresh.Key(append([]string{b.Config.Compression}, names...)...),
		Recorded: recorded, Current: ids,
	}), nil
}

// removeOtherArchives deletes archives of another compression setting, so the build directory
// holds one archive and the bundle can never pick up a stale one.
func (b *Bundler) removeOtherArchives(keep string) {
	for _, c := range []string{config.CompressionNone, config.CompressionGzip, config.CompressionZstd} {
		other := b.Config
		other.Compression = c
		if p := other.ArchivePath(); p != keep {
			os.Remove(p)
		}
	}
}

// Image assembles the build context and builds the bundle image.
func (b *Bundler) Image(ctx context.Context) error {
	m, err := b.readMerged()
	if err != nil {
		return err
	}
	archive := b.Config.ArchivePath()
	if _, err := os.Stat(archive); err != nil {
		return fmt.Errorf("image: the images archive %s is missing: run the save stage first (go run magefile.go save)", archive)
	}
	api, err := b.docker()
	if err != nil {
		return err
	}
	entries, args, err := b.contextPlan(m)
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
	key := fresh.Key(fingerprint, baseID, b.Config.BundleTag, fmt.Sprint(sortedPairs(args)))
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
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(buildctx.Write(pw, entries)) }()
	id, err := engine.Build(ctx, api, pr, engine.BuildOptions{Tag: b.Config.BundleTag, BuildArgs: args}, b.progress())
	pr.CloseWithError(errors.New("build finished"))
	if err != nil {
		return err
	}
	b.logf("image: built %s (%s)", b.Config.BundleTag, id)
	return fresh.WriteState(b.statePath("image"), fresh.State{Key: key, Output: id})
}

// contextPlan lists the bundle context and the build arguments.
func (b *Bundler) contextPlan(m manifest.Manifest) ([]buildctx.Entry, map[string]string, error) {
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
		Archive: c.ArchivePath(),
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
