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
// Whether a run keeps and restores is decided once its builders are connected (decideKeep); after
// it, the cache is bounded (pruneKept): the newest result of each image and those the run used.

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
	// Built is when it was built: of the results of one name, the newest stays (planRetention).
	// Zero in results of older versions: the oldest.
	Built time.Time `json:"built,omitzero"`
}

// keptCache is where a local BUILD_CACHE keeps images: the OCI layout and the result files.
type keptCache struct {
	Layout, Results string
}

// open opens the layout, its blobs/ linked to the blobs the build cache shares. It is never
// pruned as a plain layout (ocilayout's Prune): its blobs/ are every image cache's too, and kept
// results name manifests its index.json no longer does; retain prunes it knowing both.
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

// record notes that the build with key gave the image id, whose manifest in the layout is
// manifest — or, when manifest is zero (the engine's BuildKit, which exported it there), the
// blob of digest id (the engine's ID on the containerd store) — and names it in the layout. An
// image whose manifest is not in the layout is not recorded: it is built again next time.
func (c keptCache) record(l *ocilayout.Layout, key, name, id string, manifest ocispec.Descriptor, now time.Time) error {
	if manifest.Digest == "" {
		d, err := digest.Parse(id)
		if err != nil {
			return nil // not a digest: not an ID the layout can hold
		}
		manifest.Digest = d
	}
	data, err := os.ReadFile(l.BlobPath(manifest.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keep image %s in the build cache: %w", name, err)
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(data, &m) != nil || (m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != dockerManifestType) ||
		digest.FromBytes(data) != manifest.Digest {
		return nil // not the manifest it should be: never restored
	}
	r := keptResult{Name: name, ID: id, Manifest: ocispec.Descriptor{MediaType: m.MediaType, Digest: manifest.Digest, Size: int64(len(data))}, Built: now}
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

// dockerManifestType is the media type of an image manifest the engine's BuildKit exports with
// Docker media types (the engine's own on the containerd store).
const dockerManifestType = "application/vnd.docker.distribution.manifest.v2+json"

// keepMode is how a run uses the result cache of a local BUILD_CACHE: decided once its
// builders are connected, from what each can do.
type keepMode struct {
	Keep    []bool // by builder: its builds keep their image in the cache
	Restore bool   // images the engine lacks are loaded from the cache when kept there
	Why     string // why not all of it, when a local cache is set (said once in the output)
}

// keeper is one connected builder as decideKeep weighs it.
type keeper struct {
	Where string // for messages
	Keeps bool   // buildkit.KeepsImages
}

// decideKeep is the result cache's use for a run: with a local BUILD_CACHE (layout not ""),
// images kept there are restored unless FORCE is set (which builds every image), and each
// builder that can keep its images (buildkit.KeepsImages) keeps them. Any engine's image store:
// a result's key holds the store, an image kept by a run on one store is restored on that store.
func decideKeep(layout string, force bool, builders []keeper) keepMode {
	m := keepMode{Keep: make([]bool, len(builders))}
	if layout == "" {
		return m
	}
	m.Restore = !force
	var not []string
	for i, b := range builders {
		m.Keep[i] = b.Keeps
		if !b.Keeps {
			not = append(not, b.Where)
		}
	}
	var why []string
	if force {
		why = append(why, "FORCE is set: every image is built, none restored")
	}
	if len(not) > 0 {
		why = append(why, fmt.Sprintf("the images built on %s are not kept in it (images kept earlier are restored all the same)", strings.Join(not, " and ")))
	}
	m.Why = strings.Join(why, "; ")
	return m
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

// restoreKept loads the images of todo kept in the cache (its layout l) under their current
// key into the engine (one load), names them, and returns them with the images left to build. A
// loaded image whose ID is not the kept one is built instead (said so).
func restoreKept(ctx context.Context, api *engine.Engine, cache keptCache, l *ocilayout.Layout, todo []pendingBuild, keys map[string]string, progress io.Writer) (restored []restoreItem, build []pendingBuild, err error) {
	if _, err := os.Stat(cache.Results); err != nil {
		return nil, todo, nil // nothing kept yet
	}
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

// keptEntry is one result file of the cache as planRetention weighs it.
type keptEntry struct {
	Key   string
	Name  string
	Built time.Time
}

// planRetention says which results of the cache stay — for each image name the newest built
// (of equal times, the greatest key), and every one this run used (used, by key: restored or
// built) — and which go, each sorted. Pure.
func planRetention(entries []keptEntry, used map[string]bool) (keep, drop []string) {
	newest := map[string]keptEntry{}
	for _, e := range entries {
		n, ok := newest[e.Name]
		if !ok || e.Built.After(n.Built) || (e.Built.Equal(n.Built) && e.Key > n.Key) {
			newest[e.Name] = e
		}
	}
	for _, e := range entries {
		if used[e.Key] || newest[e.Name].Key == e.Key {
			keep = append(keep, e.Key)
		} else {
			drop = append(drop, e.Key)
		}
	}
	slices.Sort(keep)
	slices.Sort(drop)
	return keep, drop
}

// retention is what pruneKept did.
type retention struct {
	Pruned        bool // false: another run had the cache open, nothing was removed
	Kept, Dropped int  // results
	Blobs         int  // blobs removed
	Freed         int64
}

// pruneKept bounds the cache after a run: of its results, those planRetention keeps stay, the
// others are removed (and those that cannot be restored any more: unreadable, their manifest
// gone); then every blob of the shared blob directory that no kept result, no image named in the
// layout (kept images, bases) and no image cache of setting (buildkit.LocalCaches) uses is
// removed, as are the image caches' leftovers of writes (buildkit.ClearIngests). All of it only
// while no other run has the cache's layout open (ocilayout's
// PruneRetaining): a run exporting into it may be about to name a blob nothing uses yet.
func pruneKept(l *ocilayout.Layout, cache keptCache, setting string, used map[string]bool) (retention, error) {
	var r retention
	pruned, removed, freed, err := l.PruneRetaining(func() (ocilayout.Retain, error) {
		entries, err := os.ReadDir(cache.Results)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ocilayout.Retain{}, err
		}
		var (
			all      []keptEntry
			results  = map[string]keptResult{}
			unusable []string
		)
		for _, e := range entries {
			key, ok := strings.CutSuffix(e.Name(), ".json")
			if !ok || e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			res, ok := cache.read(l, key)
			if !ok {
				unusable = append(unusable, key)
				continue
			}
			results[key] = res
			all = append(all, keptEntry{Key: key, Name: res.Name, Built: res.Built})
		}
		keep, drop := planRetention(all, used)
		for _, key := range append(drop, unusable...) {
			if err := os.Remove(cache.resultPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return ocilayout.Retain{}, fmt.Errorf("remove the kept result %s: %w", cache.resultPath(key), err)
			}
		}
		r.Kept, r.Dropped = len(keep), len(drop)+len(unusable)
		retain := ocilayout.Retain{}
		for _, key := range keep {
			retain.Images = append(retain.Images, results[key].Manifest)
		}
		if retain.Layouts, err = buildkit.LocalCaches(setting); err != nil {
			return retain, err
		}
		for _, dir := range retain.Layouts {
			if _, err := buildkit.ClearIngests(dir); err != nil {
				return retain, err
			}
		}
		return retain, nil
	})
	r.Pruned, r.Blobs, r.Freed = pruned, removed, freed
	if err != nil {
		return r, fmt.Errorf("%s: bound the kept images: %w (nothing is lost: the cache keeps more than it needs)", buildkit.CacheVariable, err)
	}
	return r, nil
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
