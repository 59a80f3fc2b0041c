package embedded

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/fresh"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// This file is the result cache of a local BUILD_CACHE: an image built with it is also kept
// there (internal/buildkit: KeptImages), under a key made of everything the image is built from;
// on an engine that lacks the image — a fresh CI machine with the cache directory restored — the
// kept image is loaded instead of built: no solve, no cache import, no export. All kept images
// of a run go into the engine in one load (internal/ocilayout owns the layout and the archive).

// keptVersion changes when what a kept result's key covers or its file means changes: results
// of another version are not found (their keys differ) and the images are built again.
const keptVersion = "dindbundler-result-1"

// resultKey identifies what b is built from on any machine: its plan entry with the paths made
// relative to the project root (a CI checkout may live elsewhere), the IDs of the images it starts
// from, the content of its context files (records, by path relative to the project root) and the
// engine's image store (an image's ID is the config digest on the classic store, the manifest
// digest on the containerd one). The same inputs imageKey and the context check of decideImage
// use, so a kept result is what a build would give now.
func resultKey(b ImageBuild, fromIDs map[string]string, records map[string]fresh.FileRecord, root string, store engine.ImageStore) string {
	rel := func(p string) string {
		if r, err := filepath.Rel(root, p); err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(r)
		}
		return p
	}
	b.Context = slices.Clone(b.Context)
	for i, e := range b.Context {
		if e.Source != "" {
			e.Source = rel(e.Source)
		}
		e.Exclude = slices.Clone(e.Exclude)
		for j, x := range e.Exclude {
			e.Exclude[j] = rel(x)
		}
		b.Context[i] = e
	}
	entry, err := json.Marshal(b)
	if err != nil {
		panic(err) // strings, maps and slices of them: always marshal
	}
	parts := []string{keptVersion, store.String(), string(entry)}
	for _, name := range b.From {
		parts = append(parts, name, fromIDs[name])
	}
	files := make([]string, 0, len(records))
	for p, r := range records {
		files = append(files, rel(p)+"\x00"+r.SHA256)
	}
	slices.Sort(files)
	return fresh.Key(append(parts, files...)...)
}

// keptResult is what a build with one key gave: the image's manifest in the layout and its ID in
// the engine that built it.
type keptResult struct {
	Name     string             `json:"name"`     // the image's name when it was built
	ID       string             `json:"id"`       // its ID in that engine
	Manifest ocispec.Descriptor `json:"manifest"` // its manifest in the layout
}

// keptCache is where a local BUILD_CACHE keeps images: the OCI layout and the result files.
type keptCache struct {
	Layout, Results string
}

// open opens the layout, its blobs/ linked to the blobs the build cache shares. It is never
// pruned (ocilayout's Prune): its blobs/ are every cache directory's too, and kept results of
// earlier keys name manifests its index.json no longer does.
func (c keptCache) open() (*ocilayout.Layout, error) {
	buildkit.QuietStoreLogs()
	if err := buildkit.ShareLocalBlobs(c.Layout); err != nil {
		return nil, err
	}
	l, err := ocilayout.Open(c.Layout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", buildkit.CacheVariable, err)
	}
	return l, nil
}

func (c keptCache) resultPath(key string) string { return filepath.Join(c.Results, key+".json") }

// read is the kept result of key; false when there is none (or it cannot be used: its manifest
// is gone from the layout, the file is unreadable — the image is then built).
func (c keptCache) read(l *ocilayout.Layout, key string) (keptResult, bool) {
	data, err := os.ReadFile(c.resultPath(key))
	if err != nil {
		return keptResult{}, false
	}
	var r keptResult
	if json.Unmarshal(data, &r) != nil || r.Manifest.Digest.Validate() != nil || r.ID == "" {
		return keptResult{}, false
	}
	if _, err := os.Stat(l.BlobPath(r.Manifest.Digest)); err != nil {
		return keptResult{}, false
	}
	return r, true
}

// record notes that the build with key gave the image id (its manifest being the one of that
// digest the build exported into the layout), and names it in the layout. An image whose
// manifest is not in the layout is not recorded: it is built again next time.
func (c keptCache) record(l *ocilayout.Layout, key, name, id string) error {
	d, err := digest.Parse(id)
	if err != nil {
		return nil // not a digest: not an ID the layout can hold
	}
	data, err := os.ReadFile(l.BlobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keep image %s in the build cache: %w", name, err)
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(data, &m) != nil || digest.FromBytes(data) != d {
		return nil // not the manifest it should be: never restored
	}
	r := keptResult{Name: name, ID: id, Manifest: ocispec.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(data))}}
	if err := os.MkdirAll(c.Results, 0o755); err != nil {
		return fmt.Errorf("keep image %s in the build cache: %w", name, err)
	}
	if err := l.Tag(name, r.Manifest); err != nil {
		return fmt.Errorf("keep image %s in the build cache: %w", name, err)
	}
	if err := atomicfile.WriteJSON(c.resultPath(key), r, 0o644); err != nil {
		return fmt.Errorf("keep image %s in the build cache: %w", name, err)
	}
	return nil
}

// keepMode says whether this run keeps and restores built images, and when a local BUILD_CACHE is
// set but it does not do both, why (said once in the output).
type keepMode struct {
	Keep    bool   // builds export their image into the cache
	Restore bool   // images the engine lacks are loaded from the cache when kept there
	Why     string // why not both, when a local cache is set
}

// decideKeep is the result cache's use for a run: a local BUILD_CACHE (layout not ""), an engine
// whose image store can load the kept images as they were built (the containerd store: its
// image ID is the kept manifest's digest), no FORCE (which builds every image) for restoring, and
// for keeping a builder that exports the image a second time in the same solve
// (buildkit.KeepsImages: the engine's own BuildKit).
func decideKeep(layout string, force bool, store engine.ImageStore, builderKeeps bool) keepMode {
	switch {
	case layout == "":
		return keepMode{}
	case store != engine.ContainerdStore:
		return keepMode{Why: "built images are neither kept in it nor restored from it on the classic image store (the containerd store loads them as built)"}
	case force && builderKeeps:
		return keepMode{Keep: true, Why: "FORCE is set: every image is built (and kept), none restored"}
	case force:
		return keepMode{Why: "FORCE is set: every image is built, none restored; this builder keeps none (the engine's own BuildKit does)"}
	case !builderKeeps:
		return keepMode{Restore: true, Why: "images kept by earlier runs are restored from it, but this builder keeps no new ones (the engine's own BuildKit does)"}
	}
	return keepMode{Keep: true, Restore: true}
}

// restoreItem is one pending image to load from the cache instead of building it.
type restoreItem struct {
	pendingBuild
	Key  string
	Kept keptResult
}

// planRestore splits todo into the images whose key (keys, by name) has a kept result (kept, by
// key) — restored — and the others, built. Pure.
func planRestore(todo []pendingBuild, keys map[string]string, kept map[string]keptResult) (restore []restoreItem, build []pendingBuild) {
	for _, p := range todo {
		k := keys[p.Name]
		if r, ok := kept[k]; ok && k != "" {
			restore = append(restore, restoreItem{pendingBuild: p, Key: k, Kept: r})
			continue
		}
		build = append(build, p)
	}
	return restore, build
}

// restoreKept loads the images of todo kept in the cache under their current key into the engine
// (one load), names them, and returns them with the images left to build. A loaded image whose
// ID is not the kept one is built instead (said so).
func restoreKept(ctx context.Context, api *engine.Engine, cache keptCache, todo []pendingBuild, keys map[string]string, progress io.Writer) (restored []restoreItem, build []pendingBuild, err error) {
	if _, err := os.Stat(cache.Results); err != nil {
		return nil, todo, nil // nothing kept yet
	}
	l, err := cache.open()
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	kept := map[string]keptResult{}
	for _, k := range keys {
		if r, ok := cache.read(l, k); ok {
			kept[k] = r
		}
	}
	restore, build := planRestore(todo, keys, kept)
	if len(restore) == 0 {
		return nil, todo, nil
	}
	// One load for them all: each blob once, the layers the engine has left out.
	names := make([]string, 0, len(restore))
	for _, r := range restore {
		if err := l.Tag(r.Name, r.Kept.Manifest); err != nil {
			return nil, nil, err
		}
		names = append(names, r.Name)
	}
	start := time.Now()
	loaded, err := ocilayout.NewLoader(l, api).Load(ctx, names...)
	if err != nil {
		return nil, nil, fmt.Errorf("restore %d images from the build cache: %w (or remove %s: the images are then built)", len(names), err, cache.Results)
	}
	for _, r := range restore {
		info, found, err := engine.Inspect(ctx, api, r.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("inspect image %s restored from the build cache: %w", r.Name, err)
		}
		if !found || info.ID != r.Kept.ID {
			fmt.Fprintf(progress, "images: %s restored from the build cache is not the kept image (%s, want %s): building it\n", r.Name, info.ID, r.Kept.ID)
			build = append(build, r.pendingBuild)
			continue
		}
		restored = append(restored, r)
	}
	fmt.Fprintf(progress, "images: restored %d images from the build cache in %.1fs (%s; %.1f MB loaded, %.1f MB of layers the engine had left out), %d to build\n",
		len(restored), time.Since(start).Seconds(), buildkit.CacheVariable, float64(loaded.Sent)/1e6, float64(loaded.Omitted)/1e6, len(build))
	return restored, build, nil
}

// maxBaseMetadata bounds the entries of a base's save kept in memory: manifests and configs are a
// few KB, layers are far larger and are dropped as they stream by.
const maxBaseMetadata = 4 << 20

// keepBases puts the manifest and config — not the layers — of each image the kept images start
// from (bases: name → the engine's ID, its manifest digest on the containerd store) into the
// layout, named as in the engine. A later engine whose image of that name has the same ID then
// tells the loader which layers it holds (ocilayout counts as present the layers of engine images
// whose manifests the layout knows), and a restore's load leaves the base's layers out instead of
// sending hundreds of MB the engine has. One `docker save` per base the layout does not know yet;
// its layers are read and dropped. A base that cannot be kept only costs its layers at a restore.
func keepBases(ctx context.Context, api *engine.Engine, l *ocilayout.Layout, bases map[string]string) error {
	names := slices.Sorted(maps.Keys(bases))
	for _, name := range names {
		d, err := digest.Parse(bases[name])
		if err != nil {
			continue
		}
		if _, err := os.Stat(l.BlobPath(d)); err == nil {
			continue // kept by an earlier run
		}
		small := map[string][]byte{}
		err = engine.SaveEach(ctx, api, []string{name}, func(h *tar.Header, r io.Reader) error {
			if h.Typeflag != tar.TypeReg || h.Size > maxBaseMetadata || !strings.HasPrefix(h.Name, ocispec.ImageBlobsDir+"/") {
				return nil
			}
			b, err := io.ReadAll(r)
			small[h.Name] = b
			return err
		})
		if err != nil {
			return fmt.Errorf("keep the base %s in the build cache: %w", name, err)
		}
		blob := func(d digest.Digest) ([]byte, bool) {
			b, ok := small[path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())]
			return b, ok && digest.FromBytes(b) == d
		}
		manifestJSON, ok := blob(d)
		if !ok {
			return fmt.Errorf("keep the base %s in the build cache: its save holds no manifest %s", name, d)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(manifestJSON, &m); err != nil {
			return fmt.Errorf("keep the base %s in the build cache: manifest %s: %w", name, d, err)
		}
		configJSON, ok := blob(m.Config.Digest)
		if !ok {
			return fmt.Errorf("keep the base %s in the build cache: its save holds no config %s", name, m.Config.Digest)
		}
		desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(manifestJSON))}
		for _, b := range []struct {
			data []byte
			desc ocispec.Descriptor
		}{{configJSON, ocispec.Descriptor{Digest: m.Config.Digest, Size: int64(len(configJSON))}}, {manifestJSON, desc}} {
			if err := content.WriteBlob(ctx, l.Store(), "base-"+b.desc.Digest.String(), bytes.NewReader(b.data), b.desc); err != nil {
				return fmt.Errorf("keep the base %s in the build cache: %w", name, err)
			}
		}
		if err := l.Tag(name, desc); err != nil {
			return fmt.Errorf("keep the base %s in the build cache: %w", name, err)
		}
	}
	return nil
}
