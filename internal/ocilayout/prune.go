package ocilayout

import (
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

	idx, err := l.readIndex()
	if err != nil {
		return false, 0, 0, err
	}
	used := map[digest.Digest]bool{}
	for _, m := range idx.Manifests {
		used[m.Digest] = true
		img, err := l.imageOf(m)
		if err != nil {
			// Not one image (or unreadable): keep everything rather than guess what it uses.
			return false, 0, 0, fmt.Errorf("prune the OCI layout %s: %w", l.dir, err)
		}
		used[img.Config.Digest] = true
		for _, layer := range img.Layers {
			used[layer.Digest] = true
		}
	}
	removed, freed, err = removeUnused(filepath.Join(l.dir, ocispec.ImageBlobsDir), used)
	if err == nil {
		err = emptyDir(filepath.Join(l.dir, "ingest")) // the store writes into it, never makes it again
	}
	if err != nil {
		return true, removed, freed, fmt.Errorf("prune the OCI layout %s: %w", l.dir, err)
	}
	return true, removed, freed, nil
}

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
