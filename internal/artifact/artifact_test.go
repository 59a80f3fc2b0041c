package artifact_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/artifact"
)

func TestCanonicalTemplateRef(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"./svc/../template.yaml", "template.yaml"},
		{`C:\work\sam\template.yaml`, "C:/work/sam/template.yaml"},
		{"/repo//templates/./a.yaml", "/repo/templates/a.yaml"},
		{"  ../Up/T.yaml ", "../Up/T.yaml"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			is.New(t).Equal(artifact.CanonicalTemplateRef(tc.in), tc.want)
		})
	}
}

func TestTemplateSlug(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/a/template-a.yaml", "template-a"},
		{"My_Service.Template.yml", "my-service-template"},
		{`C:\x\__API__.yaml`, "api"},
		{"/a/___.yaml", "template"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			is.New(t).Equal(artifact.TemplateSlug(tc.in), tc.want)
		})
	}
}

// TestID pins the rule's hash: the seed is path, parameters and sha256 joined by newlines.
func TestID(t *testing.T) {
	is := is.New(t)
	// printf '%s' $'/path/to/template-a.yaml\nA=1\nStage=dev\nabc' | sha256sum
	is.Equal(artifact.ID(artifact.SourceTemplate{Path: "/path/to//template-a.yaml", SHA256: "abc", Parameters: map[string]string{"Stage": "dev", "A": "1"}}),
		"template-a-20d7c430")
	is.Equal(artifact.ID(artifact.SourceTemplate{Path: "t.yaml"}), "t-f1e2dbd3")
	is.Equal(h8("t.yaml\n\n"), "f1e2dbd3")
	// Parameter order in the file does not matter; a value does.
	a := artifact.ID(artifact.SourceTemplate{Path: "t.yaml", Parameters: map[string]string{"X": "1"}})
	b := artifact.ID(artifact.SourceTemplate{Path: "t.yaml", Parameters: map[string]string{"X": "2"}})
	is.True(a != b)
}

// valid is a manifest with two entries whose files all exist (see files).
func valid() artifact.Manifest {
	a := artifact.SourceTemplate{Path: "/src/a/template-a.yaml", SHA256: "aa", Parameters: map[string]string{"Stage": "dev"}}
	b := artifact.SourceTemplate{Path: "../b/template-b.yaml"}
	return artifact.Manifest{
		SchemaVersion: "1", Project: "esb-dev", Env: "dev", Mode: "docker",
		Artifacts: []artifact.Entry{
			{ID: artifact.ID(a), ArtifactRoot: "a", RuntimeConfigDir: "runtime-config", BundleManifest: "bundle/manifest.json", SourceTemplate: a, RequiredSecretEnv: []string{"API_KEY"}},
			{ID: artifact.ID(b), ArtifactRoot: "/abs/b", RuntimeConfigDir: "runtime-config", SourceTemplate: b},
		},
	}
}

var files = map[string]bool{
	"/arts/a/runtime-config/functions.yml": true, "/arts/a/runtime-config/routing.yml": true,
	"/arts/a/bundle/manifest.json":        true,
	"/abs/b/runtime-config/functions.yml": true, "/abs/b/runtime-config/routing.yml": true,
}

func facts(secrets ...string) artifact.Facts {
	return artifact.Facts{
		IsFile:    func(p string) bool { return files[p] },
		SecretSet: func(n string) bool { return strings.Contains(strings.Join(secrets, ","), n) },
	}
}

func TestValidateResolves(t *testing.T) {
	is := is.New(t)
	got, err := artifact.Validate("/arts/artifact.yml", valid(), facts("API_KEY"))
	is.NoErr(err)
	is.Equal(len(got), 2)
	is.Equal(got[0].Root, "/arts/a")
	is.Equal(got[0].RuntimeConfigDir, "/arts/a/runtime-config")
	is.Equal(got[0].BundleManifest, "/arts/a/bundle/manifest.json")
	is.Equal(got[1].Root, "/abs/b")
	is.Equal(got[1].BundleManifest, "")
	is.True(strings.HasPrefix(got[1].Name(), "/arts/artifact.yml artifacts[1] (template-b-"))
}

// TestValidateHardFailures holds one case per hard failure of the contract; each error names
// the file, the entry and the field.
func TestValidateHardFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(m *artifact.Manifest)
		secrets []string
		want    []string
		notWant string
	}{
		{"missing id", func(m *artifact.Manifest) { m.Artifacts[0].ID = "" },
			[]string{"API_KEY"}, []string{"artifacts[0]: id: is missing", "template-a-"}, ""},
		{"duplicate id", func(m *artifact.Manifest) { m.Artifacts[1] = m.Artifacts[0] },
			[]string{"API_KEY"}, []string{"artifacts[1] (template-a-", "id: ", "also the id of artifacts[0]"}, ""},
		{"different id", func(m *artifact.Manifest) { m.Artifacts[1].ID = "template-b-00000000" },
			[]string{"API_KEY"}, []string{"artifacts[1] (template-b-00000000): id: ", "not the id the contract computes"}, ""},
		{"runtime_config_dir escapes", func(m *artifact.Manifest) { m.Artifacts[0].RuntimeConfigDir = "x/../../etc" },
			[]string{"API_KEY"}, []string{"artifacts[0] (template-a-", "runtime_config_dir: ", "leaves artifact_root"}, ""},
		{"runtime_config_dir absolute", func(m *artifact.Manifest) { m.Artifacts[0].RuntimeConfigDir = "/etc" },
			[]string{"API_KEY"}, []string{"runtime_config_dir: ", "is absolute"}, ""},
		{"bundle_manifest escapes", func(m *artifact.Manifest) { m.Artifacts[1].BundleManifest = "../a/bundle/manifest.json" },
			[]string{"API_KEY"}, []string{"artifacts[1] (template-b-", "bundle_manifest: ", "leaves artifact_root"}, ""},
		{"missing functions.yml", func(m *artifact.Manifest) { m.Artifacts[1].ArtifactRoot = "/abs/none" },
			[]string{"API_KEY"}, []string{"artifacts[1] (template-b-", "runtime_config_dir: /abs/none/runtime-config/functions.yml is missing"}, ""},
		{"missing routing.yml", func(m *artifact.Manifest) { m.Artifacts[1].RuntimeConfigDir = "runtime-config/.." + "/runtime-config" },
			[]string{"API_KEY"}, nil, ""}, // the same directory, cleaned: valid (see below)
		{"unset required secret", func(m *artifact.Manifest) {},
			nil, []string{"artifacts[0] (template-a-", "required_secret_env: secret API_KEY is not set"}, "s3cr3t"},
		{"bad schema_version", func(m *artifact.Manifest) { m.SchemaVersion = "2" },
			[]string{"API_KEY"}, []string{"artifact /arts/artifact.yml: schema_version \"2\" is not supported"}, ""},
		{"empty artifacts", func(m *artifact.Manifest) { m.Artifacts = nil },
			nil, []string{"artifact /arts/artifact.yml: artifacts is empty"}, ""},
		{"missing project", func(m *artifact.Manifest) { m.Project = "" },
			[]string{"API_KEY"}, []string{"project is missing"}, ""},
		{"missing source_template.path", func(m *artifact.Manifest) { m.Artifacts[1].SourceTemplate.Path = "" },
			[]string{"API_KEY"}, []string{"artifacts[1] (template-b-", "source_template.path: is missing"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			m := valid()
			tc.edit(&m)
			_, err := artifact.Validate("/arts/artifact.yml", m, facts(tc.secrets...))
			if tc.want == nil {
				is.NoErr(err)
				return
			}
			is.True(err != nil)
			for _, w := range tc.want {
				is.True(strings.Contains(err.Error(), w)) // the message names file, entry and field
			}
			is.True(strings.Contains(err.Error(), "/arts/artifact.yml"))
			if tc.notWant != "" {
				is.True(!strings.Contains(err.Error(), tc.notWant))
			}
		})
	}
}

func TestValidateMissingRouting(t *testing.T) {
	is := is.New(t)
	delete(files, "/abs/b/runtime-config/routing.yml")
	defer func() { files["/abs/b/runtime-config/routing.yml"] = true }()
	_, err := artifact.Validate("/arts/artifact.yml", valid(), facts("API_KEY"))
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "artifacts[1] (template-b-"))
	is.True(strings.Contains(err.Error(), "runtime_config_dir: /abs/b/runtime-config/routing.yml is missing"))
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	is := is.New(t)
	m := valid()
	m.GeneratedAt = "2026-01-01T00:00:00Z"
	m.Generator = &artifact.Generator{Name: "dindbundler"}
	data, err := artifact.Encode(m)
	is.NoErr(err)
	is.True(strings.HasPrefix(string(data), "schema_version: \"1\"\n"))
	back, err := artifact.Decode("x", data)
	is.NoErr(err)
	is.Equal(back, m)
	_, err = artifact.Decode("/arts/artifact.yml", []byte("artifacts: {"))
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "/arts/artifact.yml"))
}

func h8(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:4])
}
