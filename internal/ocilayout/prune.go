package ocilayout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Prune removes the blobs no image of index.json uses any more (an image built again leaves its
// old top layers; a base changed, the old base) and what interrupted exports left in ingest/, so
// the layout does not grow run after run. It does so only when no other Layout has the
// directory open (another run exporting into it may be about to name a blob no image uses yet);
// then it reports pruned false. Call it when this Layout's exports are done; the Layout stays
// usable.
func (l *Layout) Prune() (pruned bool, removed int, freed int64, err error) {
	return l.PruneRetaining(nil)
}

// Retain is what a prune keeps besides the images of index.json.
type Retain struct {
	// Images are manifests in the layout that index.json does not name (any more): they are
	// kept with their configs and layers.
	Images []ocispec.Descriptor
	// Layouts are other OCI layouts whose blobs/ is this layout's (a directory both link to):
	// every blob their index.json reaches is kept.
	Layouts []string
}

// PruneRetaining is Prune keeping also what retain returns. retain (nil: nothing more) is
// called once the layout is held alone, before anything is removed: what it does (say, forget
// what it no longer retains) is done while no other Layout has the directory open. When it
// fails, nothing is removed.
func (l *Layout) PruneRetaining(retain func() (Retain, error)) (pruned bool, removed int, freed int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// flock cannot turn a shared lock into an exclusive one in place: let go, try, take back.
	if err := l.inUse.Unlock(); err != nil {
		return false, 0, 0, fmt.Errorf("prune the OCI layout %s: %w", l.dir, err)
	}
	defer func() {
		if rerr := l.inUse.RLock(); rerr != nil && err == nil {
			err = fmt.Errorf("prune the OCI layout %s: lock it again: %w", l.dir, rerr)
		}
	}()
	alone, err := l.inUse.TryLock()
	if err != nil {
		return false, 0, 0, fmt.Errorf("prune the OCI layout %s: %w", l.dir, err)
	}
	if !alone {
		return false, 0, 0, nil
	}
	defer l.inUse.Unlock()

	var also Retain
	if retain != nil {
		if also, err = retain(); err != nil {
			return false, 0, 0, fmt.Errorf("prune the OCI layout %s: %w", l.dir, err)
		}
	}
	idx, err := l.readIndex()
	if err != nil {
		return false, 0, 0, err
	}
	used := map[digest.Digest]bool{}
	for _, m := range append(idx.Manifests, also.Images...) {
		used[m.Digest] = true
		img, err := l.imageOf(m)
		if errors.Is(err, fs.ErrNotExist) {
			continue // its manifest or config is gone (a layout partly restored): it uses nothing
		}
		if err != nil {
			// Not one image (or unreadable): keep everything rather than guess what it uses.
			return false, 0, 0, fmt.Errorf("prune the OCI layout %s: %w", l.dir, err)
		}
		used[img.Config.Digest] = true
		for _, layer := range img.Layers {
			used[layer.Digest] = true
		}
	}
	for _, dir := range also.Layouts {
		if err := reachable(dir, used); err != nil {
			return false, 0, 0, fmt.Errorf("prune the OCI layout %s: %w", l.dir, err)
		}
	}
	// A blobs/ that is a link to a shared directory: the directory's files, never the link.
	blobs := filepath.Join(l.dir, ocispec.ImageBlobsDir)
	if real, err := filepath.EvalSymlinks(blobs); err == nil {
		blobs = real
	}
	removed, freed, err = removeUnused(blobs, used)
	if err == nil {
		err = emptyDir(filepath.Join(l.dir, "ingest")) // the store writes into it, never makes it again
	}
	if err != nil {
		return true, removed, freed, fmt.Errorf("prune the OCI layout %s: %w", l.dir, err)
	}
	return true, removed, freed, nil
}

// reachable adds to used every blob the index.json of the layout dir reaches: the descriptors
// of indexes and manifests are followed (an image's config and layers; a BuildKit cache's
// config and blobs), others are leaves. A layout without index.json reaches nothing; a blob it
// names but lacks is not followed. An index or manifest that cannot be read is an error: the
// caller then keeps everything.
func reachable(dir string, used map[digest.Digest]bool) error {
	data, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var top ocispec.Index
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(dir, ocispec.ImageIndexFile), err)
	}
	pending := top.Manifests
	visited := map[digest.Digest]bool{}
	for len(pending) > 0 {
		d := pending[0]
		pending = pending[1:]
		if visited[d.Digest] {
			continue
		}
		if err := d.Digest.Validate(); err != nil {
			return fmt.Errorf("%s names a blob %q: %w", dir, d.Digest, err)
		}
		visited[d.Digest], used[d.Digest] = true, true
		if !followed(d.MediaType) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageBlobsDir, d.Digest.Algorithm().String(), d.Digest.Encoded()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var node struct {
			Manifests []ocispec.Descriptor `json:"manifests"`
			Config    *ocispec.Descriptor  `json:"config"`
			Layers    []ocispec.Descriptor `json:"layers"`
		}
		if err := json.Unmarshal(b, &node); err != nil {
			return fmt.Errorf("read %s %s of %s: %w", d.MediaType, d.Digest, dir, err)
		}
		pending = append(append(pending, node.Manifests...), node.Layers...)
		if node.Config != nil {
			pending = append(pending, *node.Config)
		}
	}
	return nil
}

// followed reports whether a blob of mediaType lists other blobs: an index or a manifest,
// OCI or Docker.
func followed(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, mediaTypeDockerManifest, mediaTypeDockerManifestList:
		return true
	}
	return false
}

const mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// removeUnused removes the files of blobs/ALG/HEX that used does not name.
func removeUnused(blobs string, used map[digest.Digest]bool) (removed int, freed int64, err error) {
	err = filepath.WalkDir(blobs, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(blobs, p)
		alg, hex := filepath.Split(rel)
		dgst := digest.NewDigestFromEncoded(digest.Algorithm(filepath.Clean(alg)), hex)
		if used[dgst] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		removed++
		freed += info.Size()
		return nil
	})
	return removed, freed, err
}

// emptyDir removes what dir holds, keeping dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
