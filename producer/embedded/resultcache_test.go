package embedded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
)

func TestDecideKeep(t *testing.T) {
	tests := []struct {
		name         string
		layout       string
		force        bool
		store        engine.ImageStore
		builderKeeps bool
		want         keepMode
		why          string
	}{
		{name: "no local cache", store: engine.ContainerdStore, builderKeeps: true},
		{name: "containerd store, the engine's BuildKit", layout: "/c/_images", store: engine.ContainerdStore, builderKeeps: true,
			want: keepMode{Keep: true, Restore: true}},
		{name: "FORCE builds every image and keeps it", layout: "/c/_images", force: true, store: engine.ContainerdStore, builderKeeps: true,
			want: keepMode{Keep: true}, why: "FORCE is set: every image is built (and kept)"},
		{name: "FORCE on a builder that keeps none", layout: "/c/_images", force: true, store: engine.ContainerdStore,
			why: "this builder keeps none"},
		{name: "classic store", layout: "/c/_images", store: engine.ClassicStore, builderKeeps: true, why: "classic image store"},
		{name: "classic store, FORCE", layout: "/c/_images", force: true, store: engine.ClassicStore, builderKeeps: true, why: "classic image store"},
		{name: "a standalone buildkitd restores but keeps nothing", layout: "/c/_images", store: engine.ContainerdStore,
			want: keepMode{Restore: true}, why: "keeps no new ones"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got := decideKeep(tt.layout, tt.force, tt.store, tt.builderKeeps)
			is.Equal(got.Keep, tt.want.Keep)
			is.Equal(got.Restore, tt.want.Restore)
			is.Equal(got.Why == "", tt.why == "")
			is.True(strings.Contains(got.Why, tt.why))
		})
	}
}

func TestPlanRestore(t *testing.T) {
	is := is.New(t)
	p := func(name string) pendingBuild { return pendingBuild{ImageBuild: ImageBuild{Name: name}} }
	todo := []pendingBuild{p("a:1"), p("b:1"), p("c:1"), p("d:1")}
	keys := map[string]string{"a:1": "ka", "b:1": "kb", "c:1": "kc"} // d: no key (never restored)
	kept := map[string]keptResult{"ka": {ID: "sha256:a"}, "kc": {ID: "sha256:c"}, "": {ID: "sha256:empty"}}
	restore, build := planRestore(todo, keys, kept)
	is.Equal(len(restore), 2)
	is.Equal(restore[0].Name, "a:1")
	is.Equal(restore[0].Kept.ID, "sha256:a")
	is.Equal(restore[1].Key, "kc")
	is.Equal(len(build), 2)
	is.Equal(build[0].Name, "b:1")
	is.Equal(build[1].Name, "d:1")

	restore, build = planRestore(todo, keys, nil)
	is.Equal(len(restore), 0)
	is.Equal(len(build), 4)
}

// TestResultKey: the key follows every input of the image and nothing of the machine: the same
// project at another path gives the same key.
func TestResultKey(t *testing.T) {
	b := func(root string) ImageBuild {
		return ImageBuild{Name: "esb-fn:latest", Dockerfile: "Dockerfile", DockerfileText: "FROM base\nCOPY code/ /var/task/\n",
			Context:   []ContextEntry{{Kind: "dir", Source: root + "/functions/fn", Target: "code", Exclude: []string{root + "/.esb"}}},
			BuildArgs: map[string]string{"A": "1"}, Platform: "linux/amd64", From: []string{"base:1"}}
	}
	files := func(root, sha string) map[string]fresh.FileRecord {
		return map[string]fresh.FileRecord{root + "/functions/fn/app.py": {Sig: fresh.Signature{Inode: 7}, SHA256: sha}}
	}
	ids := map[string]string{"base:1": "sha256:base"}
	key := resultKey(b("/p"), ids, files("/p", "h1"), "/p", engine.ContainerdStore)
	is := is.New(t)
	is.Equal(resultKey(b("/elsewhere/q"), ids, files("/elsewhere/q", "h1"), "/elsewhere/q", engine.ContainerdStore), key)
	other := func(name string, k string) {
		t.Helper()
		if k == key {
			t.Errorf("%s: the key did not change", name)
		}
	}
	other("a file's content", resultKey(b("/p"), ids, files("/p", "h2"), "/p", engine.ContainerdStore))
	other("the base's ID", resultKey(b("/p"), map[string]string{"base:1": "sha256:other"}, files("/p", "h1"), "/p", engine.ContainerdStore))
	other("the image store", resultKey(b("/p"), ids, files("/p", "h1"), "/p", engine.ClassicStore))
	changed := b("/p")
	changed.BuildArgs = map[string]string{"A": "2"}
	other("a build argument", resultKey(changed, ids, files("/p", "h1"), "/p", engine.ContainerdStore))
	changed = b("/p")
	changed.Platform = "linux/arm64"
	other("the platform", resultKey(changed, ids, files("/p", "h1"), "/p", engine.ContainerdStore))
	changed = b("/p")
	changed.DockerfileText += "ENV X=1\n"
	other("the Dockerfile", resultKey(changed, ids, files("/p", "h1"), "/p", engine.ContainerdStore))
	moved := files("/p", "h1")
	moved["/p/functions/fn/extra.py"] = fresh.FileRecord{SHA256: "h3"}
	other("a file added", resultKey(b("/p"), ids, moved, "/p", engine.ContainerdStore))

	// The signature (inode, times) is the machine's, not the content: it does not count.
	is.Equal(resultKey(b("/p"), ids, map[string]fresh.FileRecord{"/p/functions/fn/app.py": {SHA256: "h1"}}, "/p", engine.ContainerdStore), key)
	// The plan entry is not changed by the key's relative paths.
	is.Equal(b("/p").Context[0].Source, "/p/functions/fn")
}

// TestKeptCacheRecord: a result is recorded only for an image whose manifest the layout holds,
// and read back while that manifest is there.
func TestKeptCacheRecord(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	c := keptCache{Layout: filepath.Join(dir, "_images"), Results: filepath.Join(dir, "_results")}
	manifestJSON := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}`)
	d := digest.FromBytes(manifestJSON)
	l, err := c.open()
	is.NoErr(err)
	defer l.Close()

	is.NoErr(c.record(l, "k1", "fn:1", d.String())) // not in the layout: not recorded
	_, ok := c.read(l, "k1")
	is.True(!ok)

	is.NoErr(os.MkdirAll(filepath.Dir(l.BlobPath(d)), 0o755))
	is.NoErr(os.WriteFile(l.BlobPath(d), manifestJSON, 0o644))
	is.NoErr(c.record(l, "k1", "fn:1", d.String()))
	r, ok := c.read(l, "k1")
	is.True(ok)
	is.Equal(r.ID, d.String())
	is.Equal(r.Name, "fn:1")
	is.Equal(r.Manifest.Digest, d)
	is.Equal(r.Manifest.Size, int64(len(manifestJSON)))
	is.Equal(r.Manifest.MediaType, "application/vnd.docker.distribution.manifest.v2+json")
	named, err := l.Manifests() // the layout names it too
	is.NoErr(err)
	is.Equal(len(named), 1)
	is.Equal(named[0].Digest, d)
	link, err := os.Readlink(filepath.Join(c.Layout, "blobs"))
	is.NoErr(err)
	is.Equal(link, filepath.Join("..", "_blobs")) // the blobs the build cache shares

	is.NoErr(c.record(l, "k2", "fn:2", "sha256:"+strings.Repeat("0", 64))) // no such blob
	_, ok = c.read(l, "k2")
	is.True(!ok)
	is.NoErr(c.record(l, "k3", "fn:3", "not-a-digest"))
	_, ok = c.read(l, "k3")
	is.True(!ok)

	is.NoErr(os.Remove(l.BlobPath(d))) // the manifest gone (a cache partly restored): built again
	_, ok = c.read(l, "k1")
	is.True(!ok)
}
