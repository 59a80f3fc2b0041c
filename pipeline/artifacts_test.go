package pipeline

import (
	"path/filepath"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/artifact"
	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
)

// TestPlanArtifactManifests: an entry with a bundle manifest keeps it and gains the images its
// functions.yml names; one without is made from the artifact.yml with the first bundle
// manifest's build; the compose file's images go to the first entry only.
func TestPlanArtifactManifests(t *testing.T) {
	is := is.New(t)
	file := artifact.Manifest{Project: "p", Env: "dev", Mode: "docker"}
	bundle := manifest.Manifest{SchemaVersion: "1.0", Template: &manifest.Template{Path: "a.yaml"},
		Build:  manifest.Build{Project: "p", Env: "dev", Mode: "docker", ImagePrefix: "esb", ImageTag: "v1"},
		Images: []manifest.Image{{Name: "esb-a:v1", Digest: "sha256:aa", Kind: manifest.KindFunction}}}
	fns := func(images ...string) runtimeconfig.Functions {
		f := runtimeconfig.Functions{Functions: map[string]runtimeconfig.Function{}}
		for i, img := range images {
			f.Functions[string(rune('a'+i))] = runtimeconfig.Function{Image: img}
		}
		return f
	}
	got := planArtifactManifests([]artifactInput{
		{File: file, Entry: artifact.Entry{SourceTemplate: artifact.SourceTemplate{Path: "a.yaml"}}, Bundle: &bundle, Functions: fns("esb-a:v1", "esb-extra:v1")},
		{File: file, Entry: artifact.Entry{SourceTemplate: artifact.SourceTemplate{Path: "b.yaml", SHA256: "bb", Parameters: map[string]string{"S": "1"}}}, Functions: fns("esb-b:v1")},
	}, []manifest.Image{{Name: "web:1", Kind: manifest.KindExternal}}, "ignored", "ignored")
	is.Equal(len(got), 2)
	is.Equal(got[0].Images, []manifest.Image{
		{Name: "esb-a:v1", Digest: "sha256:aa", Kind: manifest.KindFunction},
		{Name: "esb-extra:v1", Kind: manifest.KindFunction, Source: SourceArtifact},
		{Name: "web:1", Kind: manifest.KindExternal},
	})
	is.Equal(len(bundle.Images), 1) // the bundle manifest read is not changed
	is.Equal(got[1].Build, bundle.Build)
	is.Equal(*got[1].Template, manifest.Template{Path: "b.yaml", SHA256: "bb", Parameters: map[string]string{"S": "1"}})
	is.Equal(got[1].Images, []manifest.Image{{Name: "esb-b:v1", Kind: manifest.KindFunction, Source: SourceArtifact}})

	// Without any bundle manifest, the build comes from the artifact.yml and the settings.
	got = planArtifactManifests([]artifactInput{{File: file, Functions: fns("x:1")}}, nil, "acme", "v2")
	is.Equal(got[0].Build, manifest.Build{Project: "p", Env: "dev", Mode: "docker", ImagePrefix: "acme", ImageTag: "v2"})
}

// TestPlanArtifactManifest: the artifact.yml a TEMPLATE run writes is valid by the contract's
// rules, with artifact roots relative to it and the source template its manifest records.
func TestPlanArtifactManifest(t *testing.T) {
	is := is.New(t)
	c := config.Config{Project: "esb-default", Env: "default", Templates: []config.Template{
		{Path: "/w/a/template.yaml", RuntimeConfigDir: "/w/a/.esb/default/config", ManifestPath: "/w/a/.esb/default/bundle/manifest.json"},
		{Path: "/w/b/b.yaml", RuntimeConfigDir: "/w/b/.esb/b/default/config", ManifestPath: "/elsewhere/manifest.json"},
	}}
	ms := []manifest.Manifest{
		{Template: &manifest.Template{Path: "a/template.yaml", SHA256: "aa", Parameters: map[string]string{"Stage": "dev"}}, Build: manifest.Build{Mode: "docker", Project: "esb-default"}},
		{},
	}
	file := "/w/build/artifact.yml"
	m, err := planArtifactManifest(file, c, ms)
	is.NoErr(err)
	is.Equal(m.Artifacts[0].ArtifactRoot, "../a/.esb/default")
	is.Equal(m.Artifacts[0].RuntimeConfigDir, "config")
	is.Equal(m.Artifacts[0].BundleManifest, "bundle/manifest.json")
	is.Equal(m.Artifacts[0].SourceTemplate.Path, "a/template.yaml")
	is.Equal(m.Artifacts[1].BundleManifest, "") // BUNDLE_MANIFEST_PATH outside the root: not named
	is.Equal(m.Artifacts[1].SourceTemplate.Path, "/w/b/b.yaml")
	exists := map[string]bool{}
	for _, t := range c.Templates {
		exists[filepath.Join(t.RuntimeConfigDir, "functions.yml")] = true
		exists[filepath.Join(t.RuntimeConfigDir, "routing.yml")] = true
	}
	exists["/w/a/.esb/default/bundle/manifest.json"] = true
	entries, err := artifact.Validate(file, m, artifact.Facts{IsFile: func(p string) bool { return exists[p] }, SecretSet: func(string) bool { return false }})
	is.NoErr(err)
	is.Equal(entries[1].RuntimeConfigDir, "/w/b/.esb/b/default/config")
}
