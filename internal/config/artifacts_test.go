package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

const twoEntries = `schema_version: "1"
project: p
env: dev
mode: docker
artifacts:
  - id: a-11111111
    artifact_root: ../roots/a
    runtime_config_dir: runtime-config
    bundle_manifest: bundle/manifest.json
    source_template: {path: a.yaml}
  - id: b-22222222
    artifact_root: /abs/b
    runtime_config_dir: runtime-config
    source_template: {path: b.yaml}
`

// TestLoadArtifacts: ARTIFACT's files (a directory stands for its artifact.yml) become one
// template per entry, in order, each naming its file and entry; what they name is not checked
// here (the Deploy stage validates).
func TestLoadArtifacts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		paths   []string // the templates' Path, each a prefix
		err     string
	}{
		{"a file", []string{"ARTIFACT=arts/artifact.yml"}, []string{"arts/artifact.yml artifacts[0] (a-11111111)", "arts/artifact.yml artifacts[1] (b-22222222)"}, ""},
		{"a directory and a file, in order", []string{"ARTIFACT=other.yml, arts"}, []string{"other.yml artifacts[0]", "arts/artifact.yml artifacts[0]", "arts/artifact.yml artifacts[1]"}, ""},
		{"with TEMPLATE", []string{"ARTIFACT=arts", "TEMPLATE=t.yaml"}, nil, "TEMPLATE and ARTIFACT are both set"},
		{"missing file", []string{"ARTIFACT=none.yml"}, nil, "ARTIFACT names "},
		{"twice", []string{"ARTIFACT=arts,arts/artifact.yml"}, nil, "twice"},
		{"not YAML", []string{"ARTIFACT=bad.yml"}, nil, "bad.yml: not a valid artifact.yml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			wd := workspace(t, map[string]string{
				"arts/artifact.yml": twoEntries,
				"other.yml":         strings.Replace(twoEntries, "  - id: b-22222222\n    artifact_root: /abs/b\n    runtime_config_dir: runtime-config\n    source_template: {path: b.yaml}\n", "", 1),
				"bad.yml":           "artifacts: [",
			})
			c, err := Load(tc.environ, wd)
			if tc.err != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tc.err))
				return
			}
			is.NoErr(err)
			is.Equal(len(c.Templates), len(tc.paths))
			for i, p := range tc.paths {
				is.True(strings.HasPrefix(c.Templates[i].Path, filepath.Join(wd, p)))
				is.True(c.Templates[i].Artifact != nil)
			}
			if tc.name == "a file" {
				a, b := c.Templates[0], c.Templates[1]
				is.Equal(a.RuntimeConfigDir, filepath.Join(wd, "roots/a/runtime-config"))
				is.Equal(a.Artifact.BundleManifest, filepath.Join(wd, "roots/a/bundle/manifest.json"))
				is.Equal(a.ManifestPath, filepath.Join(c.BuildDir, "artifacts", "1-a-11111111", "manifest.json"))
				is.Equal(b.Artifact.BundleManifest, "")
				is.Equal(b.OutputRoot, "/abs/b")
				is.NoErr(c.CheckFiles(true, false)) // no TEMPLATE file is looked for
			}
		})
	}
}
