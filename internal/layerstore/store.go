// Package layerstore keeps the bundle's images as content-addressed layers, so that an image
// change costs only the layers that changed.
//
// The store (BUILD_DIR/layers) holds each layer once, named by its diffID (the sha256 of the
// uncompressed layer tar) and compressed once, when it first arrives; each image's config blob;
// and one record per exported image ID (its config and diffIDs). The Save stage exports
// (`docker save`) only images whose IDs have no complete record yet, and Ingest files their
// layers while the archive streams past: nothing is held in memory but small JSON files. It
// owns: ingest, export, compression, verification (Complete, Lookup) and GC of the store, and
// the Set that the Save stage hands to the Image stage.
//
// It must not know how the bundle lays its images out (the /images docker-save directory and the
// layers image are package bundleimage's), and it reaches the engine only through engine.
package layerstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
)

// Store is a layer store directory.
type Store struct {
	Dir string
	// Rewrite makes exports store every layer again even when the store has it (FORCE=1: a
	// damaged store file is replaced, not trusted).
	Rewrite bool
}

// Image is one exported image as the store records it.
type Image struct {
	Name    string   `json:"name,omitempty"` // set in a Set; records are by ID only
	ID      string   `json:"id"`             // the engine's image ID
	Config  string   `json:"config"`         // sha256:… of the config blob
	DiffIDs []string `json:"diffIDs"`
	// Sizes are the layers' uncompressed sizes, in DiffIDs order (absent in records of older
	// stores): the entrypoint streams zstd layers decompressed into `docker load` with them.
	Sizes []int64 `json:"sizes,omitempty"`
}

// Open returns the store at dir, creating it.
func Open(dir string) (*Store, error) {
	for _, sub := range []string{"sha256", "configs", "images", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("create layer store %s: %w", dir, err)
		}
	}
	return &Store{Dir: dir}, nil
}

// Hex is a digest's hex part: "sha256:ab…" → "ab…".
func Hex(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

// LayerFile is the file name of a layer in the store; the bundle's images directory
// (package bundleimage) uses the same names.
func LayerFile(diffID string, c Compression) string { return Hex(diffID) + c.Ext() }

// ConfigFile is the file name of an image config in the store and the bundle's images directory.
func ConfigFile(config string) string { return Hex(config) + ".json" }

// LayerPath is where the store keeps a layer in compression c.
func (s *Store) LayerPath(diffID string, c Compression) string {
	return filepath.Join(s.Dir, "sha256", LayerFile(diffID, c))
}

// ConfigPath is where the store keeps an image config blob.
func (s *Store) ConfigPath(config string) string {
	return filepath.Join(s.Dir, "configs", ConfigFile(config))
}

func (s *Store) recordPath(id string) string {
	return filepath.Join(s.Dir, "images", Hex(id)+".json")
}

// Record returns the record of image ID id; ok is false when there is none.
func (s *Store) Record(id string) (img Image, ok bool, err error) {
	data, err := os.ReadFile(s.recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return Image{}, false, nil
	}
	if err != nil {
		return Image{}, false, fmt.Errorf("read layer store record %s: %w", id, err)
	}
	if err := json.Unmarshal(data, &img); err != nil || img.ID != id {
		// A damaged record only costs an export.
		return Image{}, false, nil
	}
	return img, true, nil
}

func (s *Store) writeRecord(img Image) error {
	img.Name = ""
	data, err := json.Marshal(img)
	if err != nil {
		return fmt.Errorf("encode layer store record %s: %w", img.ID, err)
	}
	return atomicfile.Write(s.recordPath(img.ID), append(data, '\n'), 0o644)
}

// Complete reports whether the store holds everything of img in compression c: its config,
// every layer file and the layers' sizes (a record from before sizes were kept costs one more
// export). Only then may a Save skip exporting it.
func (s *Store) Complete(img Image, c Compression) bool {
	if len(img.Sizes) != len(img.DiffIDs) || !exists(s.ConfigPath(img.Config)) {
		return false
	}
	for _, d := range img.DiffIDs {
		if !exists(s.LayerPath(d, c)) {
			return false
		}
	}
	return true
}

// Lookup returns the records of ids that the store holds completely in compression c, and lists
// the others (in the order given) as missing.
func (s *Store) Lookup(ids []string, c Compression) (found map[string]Image, missing []string, err error) {
	found = map[string]Image{}
	for _, id := range ids {
		if _, done := found[id]; done {
			continue
		}
		img, ok, err := s.Record(id)
		if err != nil {
			return nil, nil, err
		}
		if ok && s.Complete(img, c) {
			found[id] = img
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing, nil
}

// LayerSize is the stored size of a layer file (for the chain plan's garbage accounting).
func (s *Store) LayerSize(diffID string, c Compression) (int64, error) {
	info, err := os.Stat(s.LayerPath(diffID, c))
	if err != nil {
		return 0, fmt.Errorf("layer store: %w (run the save stage again)", err)
	}
	return info.Size(), nil
}

// GC removes what set does not use: layers (in any compression), configs, records and leftover
// temporary files. It runs after a successful bundle build, when nothing else needs them.
func (s *Store) GC(set Set) (removed int, freed int64, err error) {
	keep := map[string]bool{}
	for _, img := range set.Images {
		keep[filepath.Join("configs", ConfigFile(img.Config))] = true
		keep[filepath.Join("images", Hex(img.ID)+".json")] = true
		for _, d := range img.DiffIDs {
			keep[filepath.Join("sha256", LayerFile(d, set.Compression))] = true
		}
	}
	var errs []error
	for _, sub := range []string{"sha256", "configs", "images", "tmp"} {
		entries, err := os.ReadDir(filepath.Join(s.Dir, sub))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("clean layer store: %w", err))
			continue
		}
		for _, e := range entries {
			rel := filepath.Join(sub, e.Name())
			if keep[rel] {
				continue
			}
			var size int64
			if info, err := e.Info(); err == nil {
				size = info.Size()
			}
			if err := os.RemoveAll(filepath.Join(s.Dir, rel)); err != nil {
				errs = append(errs, fmt.Errorf("clean layer store: %w", err))
				continue
			}
			removed++
			freed += size
		}
	}
	return removed, freed, errors.Join(errs...)
}

func exists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// Set is the Save stage's output: the manifest's images, in manifest order, and the compression
// of their layer files. Image builds the bundle from it and the store alone.
type Set struct {
	Compression Compression `json:"compression"`
	Images      []Image     `json:"images"`
}

// ReadSet reads a Set written by WriteSet.
func ReadSet(path string) (Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Set{}, err
	}
	var s Set
	if err := json.Unmarshal(data, &s); err != nil {
		return Set{}, fmt.Errorf("read %s: %w (run the save stage again)", path, err)
	}
	return s, nil
}

// WriteSet writes a Set atomically.
func WriteSet(path string, s Set) error {
	return atomicfile.WriteJSON(path, s, 0o644)
}

// Layers lists the set's distinct diffIDs in first-seen order (images in order, each image's
// layers base first): the order layers take in the bundle, so shared bases come first.
func (s Set) Layers() []string {
	seen := map[string]bool{}
	var out []string
	for _, img := range s.Images {
		for _, d := range img.DiffIDs {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// CompleteSet reports whether the store holds every file of the set.
func (s *Store) CompleteSet(set Set) bool {
	for _, img := range set.Images {
		if !s.Complete(img, set.Compression) {
			return false
		}
	}
	return true
}

// CleanTemp removes the spool files an interrupted Save left in the store's tmp directory. The
// caller must hold BUILD_DIR's lock: no ingest is running then.
func (s *Store) CleanTemp() (removed int, freed int64, err error) {
	dir := filepath.Join(s.Dir, "tmp")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("clean %s: %w", dir, err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			freed += info.Size()
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return removed, freed, fmt.Errorf("clean %s: %w", dir, err)
		}
		removed++
	}
	return removed, freed, nil
}
