package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// TestDecideKeep: one decision from the connected builders: a local cache restores unless FORCE
// is set, and each builder that can keep keeps; what is left out is said once, naming the builder.
func TestDecideKeep(t *testing.T) {
	engineBK := keeper{Where: "the engine's BuildKit", Keeps: true}
	buildkitd := keeper{Where: "BUILDKIT_HOST=unix:///b.sock", Keeps: true}
	cannot := keeper{Where: "docker+tcp://classic:2375"}
	tests := []struct {
		name     string
		layout   string
		force    bool
		builders []keeper
		keep     []bool
		restore  bool
		why      string
	}{
		{name: "no local cache", builders: []keeper{engineBK}, keep: []bool{false}},
		{name: "the engine's BuildKit", layout: "/c/_images", builders: []keeper{engineBK}, keep: []bool{true}, restore: true},
		{name: "a standalone buildkitd keeps too", layout: "/c/_images", builders: []keeper{buildkitd}, keep: []bool{true}, restore: true},
		{name: "BUILDERS: each as it can", layout: "/c/_images", builders: []keeper{buildkitd, cannot, engineBK},
			keep: []bool{true, false, true}, restore: true, why: "the images built on docker+tcp://classic:2375 are not kept in it"},
		{name: "FORCE builds every image and keeps it", layout: "/c/_images", force: true, builders: []keeper{buildkitd},
			keep: []bool{true}, why: "FORCE is set: every image is built, none restored"},
		{name: "FORCE on a builder that keeps none", layout: "/c/_images", force: true, builders: []keeper{cannot},
			keep: []bool{false}, why: "FORCE is set: every image is built, none restored; the images built on docker+tcp://classic:2375"},
		{name: "the classic builder (no BuildKit)", layout: "/c/_images", keep: []bool{}, restore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got := decideKeep(tt.layout, tt.force, tt.builders)
			is.Equal(got.Keep, tt.keep)
			is.Equal(got.Restore, tt.restore)
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
	now := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)

	is.NoErr(c.record(l, "k1", "fn:1", d.String(), ocispec.Descriptor{}, now)) // not in the layout: not recorded
	_, ok := c.read(l, "k1")
	is.True(!ok)

	is.NoErr(os.MkdirAll(filepath.Dir(l.BlobPath(d)), 0o755))
	is.NoErr(os.WriteFile(l.BlobPath(d), manifestJSON, 0o644))
	is.NoErr(c.record(l, "k1", "fn:1", d.String(), ocispec.Descriptor{}, now))
	r, ok := c.read(l, "k1")
	is.True(ok)
	is.Equal(r.ID, d.String())
	is.Equal(r.Name, "fn:1")
	is.True(r.Built.Equal(now))
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

	is.NoErr(c.record(l, "k2", "fn:2", "sha256:"+strings.Repeat("0", 64), ocispec.Descriptor{}, now)) // no such blob
	_, ok = c.read(l, "k2")
	is.True(!ok)
	is.NoErr(c.record(l, "k3", "fn:3", "not-a-digest", ocispec.Descriptor{}, now))
	_, ok = c.read(l, "k3")
	is.True(!ok)

	is.NoErr(os.Remove(l.BlobPath(d))) // the manifest gone (a cache partly restored): built again
	_, ok = c.read(l, "k1")
	is.True(!ok)
}

// TestKeptCacheRecordFromLayout: an image kept from the run's OCI layout is recorded with its
// manifest as given, whatever the engine's ID (its config digest on the classic store); a
// digest naming a config, not a manifest, is never recorded as one.
func TestKeptCacheRecordFromLayout(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	c := keptCache{Layout: filepath.Join(dir, "_images"), Results: filepath.Join(dir, "_results")}
	l, err := c.open()
	is.NoErr(err)
	defer l.Close()
	img := writeLayoutImage(t, l, "fn:1", "top")
	now := time.Now().UTC()

	is.NoErr(c.record(l, "by-config", "fn:1", img.Config.Digest.String(), ocispec.Descriptor{}, now))
	_, ok := c.read(l, "by-config")
	is.True(!ok) // the config's blob is not a manifest

	is.NoErr(c.record(l, "k", "fn:1", img.Config.Digest.String(), img.Manifest, now))
	r, ok := c.read(l, "k")
	is.True(ok)
	is.Equal(r.ID, img.Config.Digest.String())
	is.Equal(r.Manifest.Digest, img.Manifest.Digest)
	is.Equal(r.Manifest.MediaType, ocispec.MediaTypeImageManifest)
}

// writeLayoutImage writes an image of one layer (content top) into l, names it name, and returns
// it as l reads it.
func writeLayoutImage(t *testing.T, l *ocilayout.Layout, name, top string) ocilayout.Image {
	t.Helper()
	ctx := context.Background()
	put := func(mediaType string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := content.WriteBlob(ctx, l.Store(), d.Digest.String(), bytes.NewReader(b), d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	layer := put(ocispec.MediaTypeImageLayerGzip, []byte(top))
	cfg, _ := json.Marshal(ocispec.Image{RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString(top)}}})
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: put(ocispec.MediaTypeImageConfig, cfg), Layers: []ocispec.Descriptor{layer}})
	if err := l.Tag(name, put(ocispec.MediaTypeImageManifest, m)); err != nil {
		t.Fatal(err)
	}
	img, err := l.Image(name)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestKeepFromLayout: an image a buildkitd built into the run's OCI layout is kept by linking its
// blobs into the cache's layout, when the engine's ID is the one that layout's image gets on
// the engine's store (manifest digest on containerd, config digest on classic); an image of
// that name that is another (another run's) is not kept.
func TestKeepFromLayout(t *testing.T) {
	is := is.New(t)
	runLayout, err := ocilayout.Open(filepath.Join(t.TempDir(), "oci-layout"))
	is.NoErr(err)
	defer runLayout.Close()
	cache := keptCache{Layout: filepath.Join(t.TempDir(), "_images")}
	kept, err := cache.open()
	is.NoErr(err)
	defer kept.Close()
	img := writeLayoutImage(t, runLayout, "fn:1", "top")

	for _, tt := range []struct {
		store engine.ImageStore
		id    string
		ok    bool
	}{
		{engine.ContainerdStore, img.Manifest.Digest.String(), true},
		{engine.ClassicStore, img.Config.Digest.String(), true},
		{engine.ContainerdStore, img.Config.Digest.String(), false},
		{engine.ClassicStore, "sha256:" + strings.Repeat("1", 64), false},
	} {
		k := &keepTarget{layout: kept, from: runLayout, store: tt.store}
		m, ok, err := k.keepFromLayout("fn:1", tt.id)
		is.NoErr(err)
		is.Equal(ok, tt.ok)
		if ok {
			is.Equal(m.Digest, img.Manifest.Digest)
		}
	}
	for _, b := range append(img.Layers, img.Config, img.Manifest) {
		_, err := os.Stat(kept.BlobPath(b.Digest))
		is.NoErr(err) // in the cache's shared blobs
	}
	_, err = os.Stat(filepath.Join(filepath.Dir(cache.Layout), "_blobs", "sha256", img.Layers[0].Digest.Encoded()))
	is.NoErr(err)
	_, _, err = (&keepTarget{layout: kept, from: runLayout}).keepFromLayout("missing:1", "x")
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "keep image missing:1 in the build cache"))
}

// TestPlanRetention: of each name's results the newest built stays, with every result this run
// used; results of older versions (no time) are the oldest.
func TestPlanRetention(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 12, 7, h, 0, 0, 0, time.UTC) }
	entries := []keptEntry{
		{Key: "a1", Name: "fn-a:latest", Built: at(1)},
		{Key: "a2", Name: "fn-a:latest", Built: at(3)},
		{Key: "a3", Name: "fn-a:latest", Built: at(2)},
		{Key: "b0", Name: "fn-b:latest"}, // an older version's: no time
		{Key: "b1", Name: "fn-b:latest", Built: at(1)},
		{Key: "c1", Name: "fn-c:latest", Built: at(5)},
		{Key: "d1", Name: "fn-d:latest", Built: at(4)}, // equal times: the greatest key
		{Key: "d2", Name: "fn-d:latest", Built: at(4)},
	}
	tests := []struct {
		name       string
		used       map[string]bool
		keep, drop []string
	}{
		{name: "newest of each", keep: []string{"a2", "b1", "c1", "d2"}, drop: []string{"a1", "a3", "b0", "d1"}},
		{name: "and what the run restored", used: map[string]bool{"a1": true, "b0": true},
			keep: []string{"a1", "a2", "b0", "b1", "c1", "d2"}, drop: []string{"a3", "d1"}},
		{name: "a used key that is no result", used: map[string]bool{"zz": true},
			keep: []string{"a2", "b1", "c1", "d2"}, drop: []string{"a1", "a3", "b0", "d1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			keep, drop := planRetention(entries, tt.used)
			is.Equal(keep, tt.keep)
			is.Equal(drop, tt.drop)
		})
	}
	keep, drop := planRetention(nil, nil)
	is.New(t).True(keep == nil && drop == nil)
}

// TestPruneKept: after a run the cache keeps the newest result of each image and the one the
// run used; the results dropped, those whose manifest is gone, and every blob no kept image, no
// base named in the layout and no image cache uses are removed; the cache's link to the shared
// blobs stays. Another run holding the cache open: nothing is removed.
func TestPruneKept(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	setting := "type=local,dest=" + dir
	layoutDir, resultsDir, err := buildkit.KeptImages(setting)
	is.NoErr(err)
	c := keptCache{Layout: layoutDir, Results: resultsDir}
	l, err := c.open()
	is.NoErr(err)
	defer l.Close()
	at := func(h int) time.Time { return time.Date(2026, 12, 7, h, 0, 0, 0, time.UTC) }
	record := func(key, name, top string, built time.Time) ocilayout.Image {
		img := writeLayoutImage(t, l, name, top)
		is.NoErr(c.record(l, key, name, img.Manifest.Digest.String(), img.Manifest, built))
		return img
	}
	old := record("a-old", "fn-a:latest", "a old", at(1))
	restored := record("a-restored", "fn-a:latest", "a restored", at(2))
	newest := record("a-new", "fn-a:latest", "a new", at(3))
	b := record("b", "fn-b:latest", "b", at(1))
	gone := record("c-gone", "fn-c:latest", "c", at(1))
	is.NoErr(os.Remove(l.BlobPath(gone.Manifest.Digest))) // a cache partly restored
	base := writeLayoutImage(t, l, "base:1", "base")      // a base named in the layout
	// An image cache (DIR/<image>) whose index.json reaches one blob of its own.
	is.NoErr(buildkit.ShareLocalBlobs(filepath.Join(dir, "fn-a-latest")))
	cacheBlob := []byte("cache layer")
	cd := digest.FromBytes(cacheBlob)
	is.NoErr(os.WriteFile(l.BlobPath(cd), cacheBlob, 0o644))
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2},
		Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: cd, Size: int64(len(cacheBlob))}}})
	is.NoErr(os.WriteFile(filepath.Join(dir, "fn-a-latest", "index.json"), idx, 0o644))
	stray := []byte("an old cache's layer")
	is.NoErr(os.WriteFile(l.BlobPath(digest.FromBytes(stray)), stray, 0o644))

	other, err := c.open() // another run
	is.NoErr(err)
	r, err := pruneKept(l, c, setting, map[string]bool{"a-restored": true})
	is.NoErr(err)
	is.Equal(r, retention{})
	is.NoErr(other.Close())

	r, err = pruneKept(l, c, setting, map[string]bool{"a-restored": true})
	is.NoErr(err)
	is.True(r.Pruned)
	is.Equal(r.Kept, 3)    // a-new, a-restored, b
	is.Equal(r.Dropped, 2) // a-old; c-gone, whose manifest is gone
	is.Equal(r.Blobs, 6)   // a-old's manifest, config, layer; c's config and layer; the stray layer
	for _, key := range []string{"a-new", "a-restored", "b"} {
		_, ok := c.read(l, key)
		is.True(ok)
	}
	for _, key := range []string{"a-old", "c-gone"} {
		_, err := os.Stat(c.resultPath(key))
		is.True(os.IsNotExist(err))
	}
	exists := func(d digest.Digest) bool { _, err := os.Stat(l.BlobPath(d)); return err == nil }
	for _, img := range []ocilayout.Image{restored, newest, b, base} {
		for _, d := range append(img.Layers, img.Config, img.Manifest) {
			is.True(exists(d.Digest))
		}
	}
	is.True(exists(cd))
	is.True(!exists(old.Manifest.Digest) && !exists(old.Layers[0].Digest) && !exists(gone.Layers[0].Digest))
	is.True(!exists(digest.FromBytes(stray)))
	fi, err := os.Lstat(filepath.Join(layoutDir, "blobs"))
	is.NoErr(err)
	is.True(fi.Mode()&os.ModeSymlink != 0)
}
