package manifest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Merge combines per-template manifests into the bundle's one manifest (schema 1.1):
//   - build metadata (project, env, mode, image_prefix, image_tag) must agree;
//   - templates are de-duplicated by (path, sha256, parameters);
//   - images are de-duplicated by name; one name with two digests is an error;
//   - images are sorted by name; `template` is the first template.
//
// now stamps generated_at. Merge is pure: callers read and write the files.
func Merge(parts []Manifest, now time.Time) (Manifest, error) {
	if len(parts) == 0 {
		return Manifest{}, errors.New("merge manifests: no manifests given")
	}
	out := Manifest{SchemaVersion: SchemaMerged, GeneratedAt: now.UTC(), Build: parts[0].Build}
	images := map[string]Image{}
	from := map[string]string{} // image name → the template whose manifest named it first
	for i, m := range parts {
		if i > 0 {
			if err := sameBuild(parts[0].Build, m.Build); err != nil {
				return Manifest{}, err
			}
			// Git state can legitimately differ between templates of one repo (a dirty tree
			// seen by one producer run and not another): keep the first commit, OR the dirty flags.
			out.Build.Git.Dirty = out.Build.Git.Dirty || m.Build.Git.Dirty
		}
		for _, t := range m.AllTemplates() {
			if !containsTemplate(out.Templates, t) {
				out.Templates = append(out.Templates, t)
			}
		}
		for _, img := range m.Images {
			if img.Name == "" {
				return Manifest{}, fmt.Errorf("merge manifests: an image of template %s has no name", firstPath(m))
			}
			prev, seen := images[img.Name]
			switch {
			case !seen:
				images[img.Name], from[img.Name] = img, firstPath(m)
			case prev.Digest != img.Digest && prev.Digest != "" && img.Digest != "" && (prev.Kind == KindFunction || img.Kind == KindFunction):
				// No rebuild helps: each template's run replaces the other's image.
				return Manifest{}, fmt.Errorf("templates %s and %s both build function image %s (the same FunctionName in both?): give one of the functions another FunctionName", from[img.Name], firstPath(m), img.Name)
			case prev.Digest != img.Digest && prev.Digest != "" && img.Digest != "":
				return Manifest{}, fmt.Errorf("image %s has two digests: %s in the manifest of %s, %s in that of %s: rebuild so every template sees the same image", img.Name, prev.Digest, from[img.Name], img.Digest, firstPath(m))
			case prev.Digest == "":
				// An external image one producer had not pulled yet; the other knows its ID.
				images[img.Name] = img
			}
		}
	}
	if len(images) == 0 {
		return Manifest{}, errors.New("merged manifest has no images: the producer built nothing; check the templates' functions and the compose file")
	}
	for _, img := range images {
		out.Images = append(out.Images, img)
	}
	sort.Slice(out.Images, func(a, b int) bool { return out.Images[a].Name < out.Images[b].Name })
	if len(out.Templates) > 0 {
		first := out.Templates[0]
		out.Template = &first
	}
	return out, nil
}

func sameBuild(a, b Build) error {
	for _, f := range []struct{ key, a, b string }{
		{"project", a.Project, b.Project},
		{"env", a.Env, b.Env},
		{"mode", a.Mode, b.Mode},
		{"image_prefix", a.ImagePrefix, b.ImagePrefix},
		{"image_tag", a.ImageTag, b.ImageTag},
	} {
		if f.a != f.b {
			return fmt.Errorf("build metadata mismatch (%s): %s != %s", f.key, f.a, f.b)
		}
	}
	return nil
}

func containsTemplate(list []Template, t Template) bool {
	for _, have := range list {
		if have.Path == t.Path && have.SHA256 == t.SHA256 && sameParameters(have.Parameters, t.Parameters) {
			return true
		}
	}
	return false
}

func sameParameters(a, b map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func firstPath(m Manifest) string {
	if ts := m.AllTemplates(); len(ts) > 0 {
		return ts[0].Path
	}
	return "(no template)"
}

// Validate checks what the later stages rely on in a manifest read from disk.
func (m Manifest) Validate() error {
	switch m.SchemaVersion {
	case SchemaSingle, SchemaMerged:
	default:
		return fmt.Errorf("schema_version %q is not supported (want %s or %s): update dindbundler or the producer", m.SchemaVersion, SchemaSingle, SchemaMerged)
	}
	if len(m.AllTemplates()) == 0 {
		return errors.New("manifest names no template (neither template nor templates)")
	}
	for _, img := range m.Images {
		// Names and digests come from another program: each is checked before any stage
		// passes one to the engine, a file name or a message.
		if _, err := reference.ParseNormalizedNamed(img.Name); err != nil {
			return fmt.Errorf("image %q is not a valid image reference (%v): check the producer", img.Name, err)
		}
		switch img.Kind {
		case KindBase, KindService, KindFunction, KindExternal:
		default:
			return fmt.Errorf("image %s has kind %q: want base, service, function or external", img.Name, img.Kind)
		}
		if img.Digest == "" && img.Kind != KindExternal {
			return fmt.Errorf("image %s (%s) has no digest: the producer must record the local image ID", img.Name, img.Kind)
		}
		for _, d := range append([]string{img.Digest, img.Config}, img.DiffIDs...) {
			if d == "" {
				continue
			}
			if _, err := v1.NewHash(d); err != nil {
				return fmt.Errorf("image %s: %q is not a sha256 digest (sha256:<64 hex digits>): check the producer", img.Name, d)
			}
		}
	}
	return nil
}

// CarryDigests gives external images that have no digest in m the digest (and identity)
// previous recorded for the same name (the Pull stage fills those in after a merge).
func CarryDigests(m *Manifest, previous Manifest) {
	known := map[string]Image{}
	for _, img := range previous.Images {
		if img.Kind == KindExternal && img.Digest != "" {
			known[img.Name] = img
		}
	}
	for i, img := range m.Images {
		if prev, ok := known[img.Name]; ok && img.Kind == KindExternal && img.Digest == "" {
			m.Images[i].Digest, m.Images[i].Config, m.Images[i].DiffIDs = prev.Digest, prev.Config, prev.DiffIDs
		}
	}
}

// Equivalent reports whether two manifests say the same but for when they were generated.
func Equivalent(a, b Manifest) bool {
	a.GeneratedAt, b.GeneratedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}
