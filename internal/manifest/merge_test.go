package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func build() Build {
	return Build{Project: "esb-dev", Env: "dev", Mode: "docker", ImagePrefix: "esb", ImageTag: "latest", Git: Git{Commit: "abc"}}
}

func single(path, sha string, images ...Image) Manifest {
	return Manifest{SchemaVersion: SchemaSingle, Template: &Template{Path: path, SHA256: sha}, Build: build(), Images: images}
}

func img(name, digest, kind string) Image { return Image{Name: name, Digest: digest, Kind: kind} }

func TestMerge(t *testing.T) {
	tests := []struct {
		name      string
		parts     []Manifest
		wantErr   string
		wantNames []string
		wantTpls  int
	}{
		{
			name:      "one manifest becomes schema 1.1",
			parts:     []Manifest{single("a.yaml", "1", img("esb-b:latest", "sha256:b", KindFunction), img("esb-a:latest", "sha256:a", KindFunction))},
			wantNames: []string{"esb-a:latest", "esb-b:latest"},
			wantTpls:  1,
		},
		{
			name: "images de-duplicated by name, sorted",
			parts: []Manifest{
				single("a.yaml", "1", img("gw:1", "sha256:g", KindService), img("esb-z:latest", "sha256:z", KindFunction)),
				single("b.yaml", "2", img("gw:1", "sha256:g", KindService), img("esb-c:latest", "sha256:c", KindFunction)),
			},
			wantNames: []string{"esb-c:latest", "esb-z:latest", "gw:1"},
			wantTpls:  2,
		},
		{
			name: "same template twice is listed once",
			parts: []Manifest{
				single("a.yaml", "1", img("x:1", "sha256:x", KindService)),
				single("a.yaml", "1", img("x:1", "sha256:x", KindService)),
			},
			wantNames: []string{"x:1"},
			wantTpls:  1,
		},
		{
			name: "same path with another sha is another template",
			parts: []Manifest{
				single("a.yaml", "1", img("x:1", "sha256:x", KindService)),
				single("a.yaml", "2", img("x:1", "sha256:x", KindService)),
			},
			wantNames: []string{"x:1"},
			wantTpls:  2,
		},
		{
			name: "same name with another digest",
			parts: []Manifest{
				single("a.yaml", "1", img("x:1", "sha256:x", KindService)),
				single("b.yaml", "2", img("x:1", "sha256:y", KindService)),
			},
			wantErr: "image x:1 has two digests: sha256:x in the manifest of a.yaml, sha256:y in that of b.yaml",
		},
		{
			name: "two templates define the same FunctionName: both named, and the function",
			parts: []Manifest{
				single("a.yaml", "1", img("esb-hello:latest", "sha256:x", KindFunction)),
				single("b.yaml", "2", img("esb-hello:latest", "sha256:y", KindFunction)),
			},
			wantErr: "templates a.yaml and b.yaml both build function image esb-hello:latest (the same FunctionName in both?): give one of the functions another FunctionName",
		},
		{
			name: "an unpulled external image takes the other's digest",
			parts: []Manifest{
				single("a.yaml", "1", img("logs:1", "", KindExternal)),
				single("b.yaml", "2", img("logs:1", "sha256:l", KindExternal)),
			},
			wantNames: []string{"logs:1"},
			wantTpls:  2,
		},
		{
			name:    "no images",
			parts:   []Manifest{single("a.yaml", "1")},
			wantErr: "merged manifest has no images",
		},
		{
			name:    "no manifests",
			wantErr: "no manifests given",
		},
		{
			name:    "unnamed image",
			parts:   []Manifest{single("a.yaml", "1", img("", "sha256:x", KindService))},
			wantErr: "has no name",
		},
	}
	for _, key := range []string{"project", "env", "mode", "image_prefix", "image_tag"} {
		other := single("b.yaml", "2", img("y:1", "sha256:y", KindService))
		switch key {
		case "project":
			other.Build.Project = "other"
		case "env":
			other.Build.Env = "other"
		case "mode":
			other.Build.Mode = "other"
		case "image_prefix":
			other.Build.ImagePrefix = "other"
		case "image_tag":
			other.Build.ImageTag = "other"
		}
		tests = append(tests, struct {
			name      string
			parts     []Manifest
			wantErr   string
			wantNames []string
			wantTpls  int
		}{
			name:    "mismatch " + key,
			parts:   []Manifest{single("a.yaml", "1", img("x:1", "sha256:x", KindService)), other},
			wantErr: "build metadata mismatch (" + key + "): ",
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := Merge(tt.parts, now)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr)) // error names the rule
				return
			}
			is.NoErr(err)
			is.Equal(got.SchemaVersion, SchemaMerged)
			is.Equal(got.Names(), tt.wantNames)
			is.Equal(len(got.Templates), tt.wantTpls)
			is.Equal(*got.Template, got.Templates[0])
			is.Equal(got.GeneratedAt, now)
		})
	}
}

func TestMergeAcceptsBothSchemas(t *testing.T) {
	is := is.New(t)
	merged := Manifest{SchemaVersion: SchemaMerged, Templates: []Template{{Path: "a.yaml", SHA256: "1"}, {Path: "b.yaml", SHA256: "2"}}, Build: build(), Images: []Image{img("x:1", "sha256:x", KindService)}}
	got, err := Merge([]Manifest{merged, single("c.yaml", "3", img("y:1", "sha256:y", KindFunction))}, now)
	is.NoErr(err)
	is.Equal(len(got.Templates), 3)
	is.Equal(got.Template.Path, "a.yaml")
}

func TestMergeGitDirtyIsSticky(t *testing.T) {
	is := is.New(t)
	b := single("b.yaml", "2", img("y:1", "sha256:y", KindService))
	b.Build.Git.Dirty = true
	got, err := Merge([]Manifest{single("a.yaml", "1", img("x:1", "sha256:x", KindService)), b}, now)
	is.NoErr(err)
	is.True(got.Build.Git.Dirty)
}

func TestReadWriteRoundTrip(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "deep", "manifest.json")
	m := single("a.yaml", "1", Image{Name: "x:1", Digest: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", Config: "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", DiffIDs: []string{"sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}, Kind: KindService, Labels: map[string]string{"k": "v"}, Platform: "linux/amd64"})
	m.GeneratedAt = now
	is.NoErr(Write(path, m))
	got, err := Read(path)
	is.NoErr(err)
	is.Equal(got, m)
	entries, err := os.ReadDir(filepath.Dir(path))
	is.NoErr(err)
	is.Equal(len(entries), 1) // no temporary file left behind
}

func TestReadRejects(t *testing.T) {
	tests := []struct{ name, json, wantErr string }{
		{"not json", "{", "parse manifest"},
		{"truncated", `{"schema_version":"1.0","template":{"path":"a"},"ima`, "parse manifest: unexpected EOF"},
		{"two documents", `{"schema_version":"1.0","template":{"path":"a"},"images":[]}{}`, "data after its JSON document"},
		{"unknown schema", `{"schema_version":"2.0","template":{"path":"a"},"images":[]}`, `schema_version "2.0" is not supported`},
		{"no template", `{"schema_version":"1.0","images":[]}`, "names no template"},
		{"bad kind", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"x","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","kind":"weird"}]}`, `kind "weird"`},
		{"missing digest", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"x","kind":"function"}]}`, "has no digest"},
		// Names and digests from another program are checked where they are read.
		{"an image named like a path", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"../../etc/passwd","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","kind":"function"}]}`, `image "../../etc/passwd" is not a valid image reference`},
		{"an image name with a newline", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"x\nRUN id","kind":"external"}]}`, "is not a valid image reference"},
		{"an empty image name", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"","kind":"external"}]}`, "is not a valid image reference"},
		{"a short digest", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"x","digest":"sha256:1","kind":"function"}]}`, `"sha256:1" is not a sha256 digest`},
		{"a digest that is a path", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"x","digest":"sha256:../../../etc/passwd","kind":"function"}]}`, "is not a sha256 digest"},
		{"a bad config digest", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"x","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","config":"md5:abc","kind":"function"}]}`, `"md5:abc" is not a sha256 digest`},
		{"a bad diff ID", `{"schema_version":"1.0","template":{"path":"a"},"images":[{"name":"x","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","diff_ids":["sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],"kind":"function"}]}`, "is not a sha256 digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			path := filepath.Join(t.TempDir(), "manifest.json")
			is.NoErr(os.WriteFile(path, []byte(tt.json), 0o644))
			_, err := Read(path)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tt.wantErr))
			is.True(strings.Contains(err.Error(), path)) // names the file
		})
	}
	_, err := Read(filepath.Join(t.TempDir(), "missing.json"))
	is.New(t).True(err != nil)
}

func TestCarryDigestsAndEquivalent(t *testing.T) {
	is := is.New(t)
	previous := single("a.yaml", "1", img("logs:1", "sha256:l", KindExternal), img("fn:1", "sha256:f", KindFunction), img("gone:1", "sha256:g", KindExternal))
	m := single("a.yaml", "1", img("logs:1", "", KindExternal), img("fn:1", "sha256:f", KindFunction), img("new:1", "", KindExternal))
	previous.Images[0].DiffIDs, previous.Images[0].Config = []string{"sha256:d"}, "sha256:l"
	CarryDigests(&m, previous)
	is.Equal(m.Images[0].Digest, "sha256:l")            // resolved digest kept
	is.Equal(m.Images[0].DiffIDs, []string{"sha256:d"}) // with the identity
	is.Equal(m.Images[0].Config, "sha256:l")
	is.Equal(m.Images[2].Digest, "") // nothing known: still for Pull to fill in

	a := single("a.yaml", "1", img("x:1", "sha256:x", KindService))
	b := a
	b.GeneratedAt = now
	is.True(Equivalent(a, b)) // only the timestamp differs
	c := single("a.yaml", "1", img("x:1", "sha256:y", KindService))
	is.True(!Equivalent(a, c))
}
