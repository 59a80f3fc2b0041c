package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
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
	if len(b.Config.Artifacts) > 0 {
		return b.deployArtifacts(ctx)
	}
	steps, err := b.deploySteps()
	if err != nil {
		return err
	}
	for _, s := range steps {
		p, err := b.planDeploy(s, b.imageIDs(ctx))
		if err != nil {
			return err
		}
		if err := b.carry(ctx, "deploy", p); err != nil {
			return err
		}
	}
	return b.writeArtifactManifest()
}

// planDeploy is the deploy stage's decision for one template (producer.Check) and its work: run
// the producer, then record the files it read. With ids nil (a dry run) the base images' IDs are
// not compared: the plan says so.
func (b *Bundler) planDeploy(s producer.Step, ids producer.ImageIDs) (fresh.Plan, error) {
	d, err := producer.Check(s, b.Config.Force, ids)
	if err != nil {
		return fresh.Plan{}, err
	}
	p := fresh.Plan{Decision: d, Subject: s.Template.Path, Inputs: []string{s.Template.Path}, Work: "the embedded producer"}
	if s.Args != nil {
		p.Work = "`" + strings.Join(s.Args, " ") + "`"
	}
	if ids == nil {
		p.Pending = "the daemon's IDs of its base images"
		return p, nil
	}
	p.Do = func(ctx context.Context) error {
		b.logf("deploy: %s: producing, %s", s.Template.Path, d.Reason)
		embedded := b.Embedded
		if embedded == nil {
			embedded = b.embeddedProducer
		}
		inputs, err := producer.Snapshot(s)
		if err != nil {
			return err
		}
		if err := producer.Run(ctx, b.Config, s, embedded, b.progress(), b.progress()); err != nil {
			return err
		}
		return producer.RecordInputs(s, inputs)
	}
	return p, nil
}

// imageIDs looks up, in the engine, the IDs of images that are present (connecting on first use).
func (b *Bundler) imageIDs(ctx context.Context) producer.ImageIDs {
	return func(names []string) (map[string]string, error) {
		api, err := b.docker()
		if err != nil {
			return nil, err
		}
		locals, _, err := api.Locals(ctx, names)
		if err != nil {
			return nil, err
		}
		ids := make(map[string]string, len(locals))
		for name, l := range locals {
			ids[name] = l.ID
		}
		return ids, nil
	}
}

// manifestDecision is the Manifest stage's freshness: the per-template manifests and runtime
// configs (their paths and contents, which are small) are the ones the merged manifest and
// runtime config were made from. Contents rather than timestamps: a producer run that rebuilt
// identical images must not cascade into a new archive and a new bundle image. It returns the
// runtime config parts it read, for the merge.
func (b *Bundler) manifestDecision() (fresh.Decision, string, []runtimeconfig.DirPart, error) {
	parts := []string{}
	for _, t := range b.Config.Templates {
		data, err := os.ReadFile(t.ManifestPath)
		if err != nil {
			return fresh.Decision{}, "", nil, fmt.Errorf("manifest: %w (run the deploy stage first)", err)
		}
		parts = append(parts, t.ManifestPath, string(data))
	}
	configs, err := b.runtimeConfigParts()
	if err != nil {
		return fresh.Decision{}, "", nil, err
	}
	key := fresh.Key(append(parts, runtimeConfigKey(configs)...)...)
	out := b.Config.MergedManifestPath()
	exists, mod, err := fresh.Output(out)
	if err != nil {
		return fresh.Decision{}, "", nil, err
	}
	state, err := fresh.ReadState(b.statePath("manifest"))
	if err != nil {
		return fresh.Decision{}, "", nil, err
	}
	facts := fresh.Facts{Force: b.Config.Force, Output: out, OutputExists: exists, OutputTime: mod, RecordedKey: state.Key, CurrentKey: key}
	if exists {
		if _, err := manifest.Read(out); err != nil {
			facts.OutputInvalid = err
		}
	}
	merged := filepath.Join(b.Config.MergedRuntimeConfigDir(), runtimeconfig.FunctionsFile)
	if _, err := os.Stat(merged); err != nil && hasRuntimeConfig(configs) && facts.OutputInvalid == nil {
		facts.OutputInvalid = fmt.Errorf("the merged runtime config %s is missing", merged)
	}
	return fresh.Decide(facts), key, configs, nil
}

// Manifest merges the per-template manifests into the bundle's one manifest. A merge equal to
// the manifest already there (but for its timestamp) leaves the file untouched, so the stages
// after it stay fresh.
func (b *Bundler) Manifest(ctx context.Context) error {
	if err := b.Config.RequireTemplates(); err != nil {
		return err
	}
	p, _, err := b.planManifest()
	if err != nil {
		return err
	}
	if p.Fresh {
		// BUNDLE_TAG is no input of the merge: it may have changed since.
		if _, err := b.readMerged(); err != nil {
			return err
		}
	}
	return b.carry(ctx, "manifest", p)
}

// planManifest is the Manifest stage's decision (manifestDecision) and its work: merge the
// per-template manifests and runtime configs, which it returns too. It needs no daemon: the dry
// run prints this plan.
func (b *Bundler) planManifest() (fresh.Plan, []runtimeconfig.DirPart, error) {
	d, key, configs, err := b.manifestDecision()
	if err != nil {
		return fresh.Plan{}, nil, err
	}
	p := fresh.Plan{Decision: d, Work: "merge", Inputs: []string{b.Config.MergedManifestPath()}}
	for _, t := range b.Config.Templates {
		p.Inputs = append(p.Inputs, t.ManifestPath)
	}
	p.Do = func(context.Context) error { return b.mergeManifests(d, key, configs) }
	return p, configs, nil
}

// mergeManifests writes the merged manifest and runtime config (the Manifest stage's work). A
// merge equal to the manifest already there (but for its timestamp) leaves the file untouched.
func (b *Bundler) mergeManifests(d fresh.Decision, key string, configs []runtimeconfig.DirPart) error {
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
	if err := b.Config.CheckBundleTag("the manifest", merged.Names()); err != nil {
		return err
	}
	// Both merges before anything is written: a conflict leaves the outputs as they were.
	configFiles, config, err := runtimeconfig.MergeDirs(configs)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
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
	if err := writeRuntimeConfigDir(b.Config.MergedRuntimeConfigDir(), configFiles); err != nil {
		return err
	}
	if len(configFiles) > 0 {
		b.logf("manifest: runtime config %s: %d functions, %d routes", b.Config.MergedRuntimeConfigDir(), len(config.Functions.Functions), len(config.Routing.Routes))
	} else {
		b.logf("manifest: no template has a runtime config (%s): the bundle carries none", runtimeconfig.DirName)
	}
	return fresh.WriteState(b.statePath("manifest"), fresh.State{Key: key})
}

// readMerged reads the bundle's manifest with a hint when it is missing, and refuses a
// BUNDLE_TAG that names one of its images before any stage after the merge tags anything.
func (b *Bundler) readMerged() (manifest.Manifest, error) {
	m, err := manifest.Read(b.Config.MergedManifestPath())
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("%w: run the manifest stage first (go run magefile.go manifest)", err)
	}
	if err != nil {
		return m, err
	}
	return m, b.Config.CheckBundleTag("the manifest", m.Names())
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
	locals, missing, err := api.Locals(ctx, m.Names())
	if err != nil {
		return err
	}
	p, err := planPull(m, missing, false)
	if err != nil {
		return err
	}
	p.Do = func(ctx context.Context) error {
		for _, name := range p.Inputs {
			b.logf("pull: %s", name)
			if err := engine.Pull(ctx, api, name, b.progress()); err != nil {
				return err
			}
		}
		pulled, _, err := api.Locals(ctx, p.Inputs)
		if err != nil {
			return err
		}
		for n, l := range pulled {
			locals[n] = l
		}
		return nil
	}
	if err := b.carry(ctx, "pull", p); err != nil {
		return err
	}
	changed := false
	for i, img := range m.Images {
		if l, ok := locals[img.Name]; ok && img.Kind == manifest.KindExternal && img.Digest == "" {
			m.Images[i].Digest, m.Images[i].Config, m.Images[i].DiffIDs = l.ID, l.Config, l.DiffIDs
			changed = true
		}
	}
	if changed {
		return manifest.Write(b.Config.MergedManifestPath(), m)
	}
	return nil
}

// planPull is the Pull stage's decision: it pulls the external images among missing (its Inputs),
// and refuses any other missing image, naming who builds it. A dry run (dry) does not ask the
// daemon what is missing: its plan names the external images and leaves that pending.
func planPull(m manifest.Manifest, missing []string, dry bool) (fresh.Plan, error) {
	kinds := map[string]string{}
	var external []string
	for _, img := range m.Images {
		kinds[img.Name] = img.Kind
		if img.Kind == manifest.KindExternal {
			external = append(external, img.Name)
		}
	}
	if dry {
		return fresh.Plan{Decision: fresh.Decision{Fresh: true, Reason: "the daemon was not asked"}, Pending: "which images the daemon lacks",
			Work: fmt.Sprintf("pull those of %d external images missing in the daemon: %s", len(external), strings.Join(external, ", "))}, nil
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
		return fresh.Plan{}, err
	}
	if len(toPull) == 0 {
		return fresh.Plan{Decision: fresh.Decision{Fresh: true, Reason: fmt.Sprintf("all %d images are present locally", len(m.Images))}}, nil
	}
	return fresh.Plan{Decision: fresh.Decision{Reason: fmt.Sprintf("%d of %d external images are missing locally", len(toPull), len(external))},
		Inputs: toPull, Work: "pull " + strings.Join(toPull, ", ")}, nil
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

// checkImages compares the images an engine or the Save stage's set tells about with the
// manifest: missing and different images are errors naming each. An image only an export can
// tell apart (manifest.ErrUndecided) passes.
func checkImages(m manifest.Manifest, seen map[string]manifest.Seen, missing []string) error {
	var problems []error
	for _, name := range missing {
		problems = append(problems, fmt.Errorf("image %s is missing locally: run the pull stage, or the deploy stage with FORCE=1", name))
	}
	for _, img := range m.Images {
		s, ok := seen[img.Name]
		if !ok {
			continue
		}
		switch err := img.Check(s); {
		case err == nil, errors.Is(err, manifest.ErrUndecided):
		case img.Digest == "":
			problems = append(problems, fmt.Errorf("image %s has no digest in the manifest: run the pull stage", img.Name))
		default:
			problems = append(problems, fmt.Errorf("image %s is stale: %w; rebuild it with FORCE=1 (go run magefile.go deploy) or restore the image", img.Name, err))
		}
	}
	return errors.Join(problems...)
}
