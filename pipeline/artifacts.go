package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/dindbundler/dindbundler/internal/artifact"
	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/compose"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
)

// SourceArtifact marks an image the Deploy stage listed from an artifact's functions.yml or the
// compose file rather than from a bundle manifest.
const SourceArtifact = "artifact"

// artifactInput is what the Deploy stage read for one ARTIFACT entry.
type artifactInput struct {
	Template  config.Template
	File      artifact.Manifest  // the artifact.yml the entry is in
	Entry     artifact.Entry     // the entry
	Bundle    *manifest.Manifest // its bundle manifest; nil when it names none
	Functions runtimeconfig.Functions
}

// planArtifactManifests is the manifest of each entry, without the images' local identity: the
// entry's bundle manifest when it has one, else one made from the artifact.yml; plus every image
// its functions.yml names, and (on the first entry) the compose file's service images. Build
// metadata comes from the first bundle manifest when any entry has one, so the Manifest stage's
// merge sees one build; else from the artifact.yml and IMAGE_PREFIX/IMAGE_TAG.
func planArtifactManifests(inputs []artifactInput, services []manifest.Image, prefix, tag string) []manifest.Manifest {
	var build *manifest.Build
	for _, in := range inputs {
		if in.Bundle != nil {
			b := in.Bundle.Build
			build = &b
			break
		}
	}
	out := make([]manifest.Manifest, 0, len(inputs))
	for i, in := range inputs {
		var m manifest.Manifest
		if in.Bundle != nil {
			m = *in.Bundle
			m.Images = slices.Clone(in.Bundle.Images)
		} else {
			src := in.Entry.SourceTemplate
			m = manifest.Manifest{SchemaVersion: manifest.SchemaSingle, Template: &manifest.Template{Path: src.Path, SHA256: src.SHA256, Parameters: src.Parameters}}
			if build != nil {
				m.Build = *build
			} else {
				m.Build = manifest.Build{Project: in.File.Project, Env: in.File.Env, Mode: in.File.Mode, ImagePrefix: prefix, ImageTag: tag}
			}
		}
		listed := map[string]bool{}
		for _, img := range m.Images {
			listed[img.Name] = true
		}
		add := func(img manifest.Image) {
			if !listed[img.Name] {
				listed[img.Name] = true
				m.Images = append(m.Images, img)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(in.Functions.Functions)) {
			add(manifest.Image{Name: in.Functions.Functions[name].Image, Kind: manifest.KindFunction, Source: SourceArtifact})
		}
		if i == 0 {
			for _, img := range services {
				add(img)
			}
		}
		sort.Slice(m.Images, func(a, b int) bool { return m.Images[a].Name < m.Images[b].Name })
		out = append(out, m)
	}
	return out
}

// composeServiceImages are the images the compose file's services run: image: as it is, or the
// name compose gives a built one (<project>-<service>), as the embedded producer names them.
func composeServiceImages(f *compose.File, project string) ([]manifest.Image, error) {
	var out []manifest.Image
	for _, s := range f.Services {
		name, kind := s.Image, manifest.KindExternal
		if s.Build != nil {
			kind = manifest.KindService
			if name == "" {
				name = project + "-" + strings.ToLower(s.Name)
			}
		}
		if name == "" {
			continue
		}
		ref, err := engine.FamiliarRef(name)
		if err != nil {
			return nil, fmt.Errorf("compose service %s: image %q: %w", s.Name, name, err)
		}
		out = append(out, manifest.Image{Name: ref, Kind: kind, Source: SourceArtifact})
	}
	return out, nil
}

// missingImagesError is the one error for every image the artifacts name that the engine lacks.
func missingImagesError(missing []string, from map[string]string) error {
	lines := make([]string, 0, len(missing))
	for _, name := range missing {
		lines = append(lines, "  "+name+" ("+from[name]+")")
	}
	return fmt.Errorf("deploy: %d images the artifacts name are missing locally:\n%s\nload or build them, or set PREPARE_IMAGES=1 to pull them (from CONTAINER_REGISTRY or their registry)", len(missing), strings.Join(lines, "\n"))
}

// deployArtifacts is the Deploy stage with ARTIFACT: every artifact.yml is validated (nothing
// is produced), the images they and the compose file name must be local (PREPARE_IMAGES=1
// pulls the missing ones), and each entry's manifest, with the images' local identity, is
// written where the Manifest stage reads it — only when it changed, so that stage and the ones
// after it stay fresh while nothing the artifacts name changed.
func (b *Bundler) deployArtifacts(ctx context.Context) error {
	c := b.Config
	var inputs []artifactInput
	var errs []error
	for _, file := range c.Artifacts {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("deploy: read the artifact %s: %w", file, err)
		}
		m, err := artifact.Decode(file, data)
		if err != nil {
			return err
		}
		entries, err := artifact.Validate(file, m, artifact.Facts{IsFile: isFile, SecretSet: func(n string) bool { return c.Vars[n] != "" }})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			t, ok := artifactTemplate(c, file, e.Index)
			if !ok {
				return fmt.Errorf("deploy: %s changed while the bundler ran: run it again", file)
			}
			in := artifactInput{Template: t, File: m, Entry: e.Entry}
			if e.BundleManifest != "" {
				bm, err := manifest.Read(e.BundleManifest)
				if err != nil {
					errs = append(errs, fmt.Errorf("artifact %s: bundle_manifest: %w", e.Name(), err))
					continue
				}
				in.Bundle = &bm
			}
			fns, err := os.ReadFile(filepath.Join(e.RuntimeConfigDir, artifact.FunctionsFile))
			if err == nil {
				in.Functions, err = runtimeconfig.DecodeFunctions(fns, e.Name()+" "+artifact.FunctionsFile)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("artifact %s: runtime_config_dir: %w", e.Name(), err))
				continue
			}
			inputs = append(inputs, in)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var services []manifest.Image
	if isFile(c.ComposeFile) {
		f, err := compose.ParseFile(c.ComposeFile, c.Vars)
		if err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		if services, err = composeServiceImages(f, c.Project); err != nil {
			return fmt.Errorf("deploy: compose file %s: %w", c.ComposeFile, err)
		}
	}
	planned := planArtifactManifests(inputs, services, c.ImagePrefix, c.ImageTag)
	from := map[string]string{}
	var names []string
	for i, m := range planned {
		for _, img := range m.Images {
			if _, ok := from[img.Name]; !ok {
				from[img.Name] = img.Kind + " image of " + inputs[i].Template.Path
				names = append(names, img.Name)
			}
		}
	}
	for _, s := range services {
		from[s.Name] = s.Kind + " image of the compose file " + c.ComposeFile
	}
	api, err := b.docker()
	if err != nil {
		return err
	}
	locals, missing, err := api.Locals(ctx, names)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if len(missing) > 0 && !c.PrepareImages {
		return missingImagesError(missing, from)
	}
	for _, name := range missing {
		b.logf("deploy: pull %s (PREPARE_IMAGES=1; %s)", name, from[name])
		if err := engine.Pull(ctx, api, name, b.progress()); err != nil {
			return fmt.Errorf("deploy: prepare images: %w", err)
		}
	}
	if len(missing) > 0 {
		if locals, missing, err = api.Locals(ctx, names); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		if len(missing) > 0 {
			return missingImagesError(missing, from)
		}
	}
	written := 0
	for i, m := range planned {
		for j, img := range m.Images {
			l := locals[img.Name]
			if img.Digest == "" || img.Source == SourceArtifact {
				m.Images[j].Digest, m.Images[j].Config, m.Images[j].DiffIDs = l.ID, l.Config, l.DiffIDs
			}
		}
		path := inputs[i].Template.ManifestPath
		if prev, err := manifest.Read(path); err == nil && manifest.Equivalent(prev, m) {
			continue
		}
		m.GeneratedAt = b.now().UTC()
		if err := manifest.Write(path, m); err != nil {
			return fmt.Errorf("deploy %s: %w", inputs[i].Template.Path, err)
		}
		written++
	}
	if written == 0 {
		// Known only now: the entry manifests the images would make are the ones written.
		unchanged := fmt.Sprintf("%d artifacts valid and unchanged (%d images present locally)", len(inputs), len(names))
		return b.carry(ctx, "deploy", fresh.Plan{Decision: fresh.Decision{Fresh: true, Reason: unchanged}})
	}
	b.logf("deploy: %d artifacts validated, %d images present locally, %d entry manifests written under %s", len(inputs), len(names), written, c.BuildDir)
	return nil
}

// artifactTemplate finds the template configuration made of entry index of file.
func artifactTemplate(c config.Config, file string, index int) (config.Template, bool) {
	for _, t := range c.Templates {
		if t.Artifact != nil && t.Artifact.File == file && t.Artifact.Index == index {
			return t, true
		}
	}
	return config.Template{}, false
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// ArtifactManifestPath is where a TEMPLATE run writes the artifact.yml of what it produced.
func (b *Bundler) ArtifactManifestPath() string {
	return b.Config.Layout().ArtifactManifest()
}

// planArtifactManifest is the artifact.yml describing what the producer left for each template
// (file is where it goes): one entry per template, artifact_root its <output root>/<env>
// relative to file, its runtime config and bundle manifest under it, the source template as its
// manifest records it, and the id by the contract's rule. A template whose manifest lies outside
// its artifact root (BUNDLE_MANIFEST_PATH) gets no bundle_manifest.
func planArtifactManifest(file string, c config.Config, manifests []manifest.Manifest) (artifact.Manifest, error) {
	out := artifact.Manifest{SchemaVersion: artifact.SchemaVersion, Project: c.Project, Env: c.Env, Mode: "docker",
		Generator: &artifact.Generator{Name: "dindbundler"}}
	for i, t := range c.Templates {
		m := manifests[i]
		if m.Build.Mode != "" {
			out.Mode = m.Build.Mode
		}
		if m.Build.Project != "" {
			out.Project = m.Build.Project
		}
		root := filepath.Dir(t.RuntimeConfigDir)
		rel, err := filepath.Rel(filepath.Dir(file), root)
		if err != nil {
			return artifact.Manifest{}, fmt.Errorf("artifact.yml: the artifact root of %s: %w", t.Path, err)
		}
		e := artifact.Entry{ArtifactRoot: filepath.ToSlash(rel), RuntimeConfigDir: filepath.Base(t.RuntimeConfigDir)}
		if bm, err := filepath.Rel(root, t.ManifestPath); err == nil && bm != ".." && !strings.HasPrefix(bm, ".."+string(filepath.Separator)) {
			e.BundleManifest = filepath.ToSlash(bm)
		}
		e.SourceTemplate = artifact.SourceTemplate{Path: t.Path}
		if tpl := m.AllTemplates(); len(tpl) > 0 {
			e.SourceTemplate = artifact.SourceTemplate{Path: tpl[0].Path, SHA256: tpl[0].SHA256, Parameters: tpl[0].Parameters}
		}
		e.ID = artifact.ID(e.SourceTemplate)
		out.Artifacts = append(out.Artifacts, e)
	}
	return out, nil
}

// writeArtifactManifest writes BUILD_DIR/artifact.yml after a TEMPLATE run, atomically and only
// when its content changed; a template without functions.yml and routing.yml (an external
// producer that writes none) leaves no artifact.yml, since the contract requires both.
func (b *Bundler) writeArtifactManifest() error {
	c := b.Config
	manifests := make([]manifest.Manifest, 0, len(c.Templates))
	for _, t := range c.Templates {
		for _, f := range []string{artifact.FunctionsFile, artifact.RoutingFile} {
			if !isFile(filepath.Join(t.RuntimeConfigDir, f)) {
				b.logf("deploy: no %s written: %s has no %s in %s (the contract requires it)", artifact.FileName, t.Path, f, t.RuntimeConfigDir)
				return nil
			}
		}
		m, err := manifest.Read(t.ManifestPath)
		if err != nil {
			return fmt.Errorf("deploy: %s: %w", artifact.FileName, err)
		}
		manifests = append(manifests, m)
	}
	file := b.ArtifactManifestPath()
	am, err := planArtifactManifest(file, c, manifests)
	if err != nil {
		return err
	}
	data, err := artifact.Encode(am)
	if err != nil {
		return err
	}
	if prev, err := os.ReadFile(file); err == nil && string(prev) == string(data) {
		return nil
	}
	if err := atomicfile.Write(file, data, 0o644); err != nil {
		return fmt.Errorf("deploy: write %s: %w", file, err)
	}
	b.logf("deploy: wrote %s (%d artifacts): bundle them with ARTIFACT=%s", file, len(am.Artifacts), file)
	return nil
}
