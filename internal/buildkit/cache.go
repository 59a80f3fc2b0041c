package buildkit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
)

// CacheVariable names the build cache shared between machines: type=local,dest=DIR or
// type=registry,ref=NAME, imported and exported by every build (--cache-from, --cache-to).
const CacheVariable = "BUILD_CACHE"

// ImageCache is the cache import and export of one image for setting (BUILD_CACHE; "" is none).
// Each image has its own cache (a directory below DIR, a tag of NAME): concurrent builds would
// otherwise replace each other's cache index. The export keeps every step (mode=max), those of
// the build stages too, where the install steps are. The import of a local cache is listed
// even when its directory does not exist yet; the caller drops it then (LocalCacheMissing).
func ImageCache(setting, image string) (from, to []CacheEntry, err error) {
	if setting == "" {
		return nil, nil, nil
	}
	e, err := ParseCache(setting)
	if err != nil {
		return nil, nil, fmt.Errorf("%s=%w", CacheVariable, err)
	}
	key := cacheKey(image)
	switch e.Type {
	case "local":
		dir, err := localDir(setting, e)
		if err != nil {
			return nil, nil, err
		}
		dir = filepath.Join(dir, key)
		from = []CacheEntry{{Type: "local", Attrs: map[string]string{"src": dir}}}
		to = []CacheEntry{{Type: "local", Attrs: map[string]string{"dest": dir, "mode": "max"}}}
	case "registry":
		named, err := reference.ParseNormalizedNamed(e.Attrs["ref"])
		if err != nil {
			return nil, nil, fmt.Errorf("%s=%s: ref must be an image reference (registry/repository[:tag]): %v", CacheVariable, setting, err)
		}
		tag := "cache"
		if t, ok := named.(reference.Tagged); ok {
			tag = t.Tag()
		}
		ref := reference.TrimNamed(named).String() + ":" + tag + "-" + key
		from = []CacheEntry{{Type: "registry", Attrs: map[string]string{"ref": ref}}}
		to = []CacheEntry{{Type: "registry", Attrs: map[string]string{"ref": ref, "mode": "max"}}}
	default:
		return nil, nil, fmt.Errorf("%s=%s: type %q is not local or registry", CacheVariable, setting, e.Type)
	}
	for k, v := range e.Attrs {
		if k != "dest" && k != "src" && k != "ref" {
			to[0].Attrs[k] = v // compression, mode, … as given
		}
	}
	return from, to, nil
}

// localDir is the directory of a local cache setting e (dest=, or src=).
func localDir(setting string, e CacheEntry) (string, error) {
	dir := e.Attrs["dest"]
	if dir == "" {
		dir = e.Attrs["src"]
	}
	if dir == "" || !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%s=%s: a local cache needs dest=DIR, an absolute directory", CacheVariable, setting)
	}
	return dir, nil
}

// A local BUILD_CACHE also keeps the images built with it (the result cache), so that an engine
// without them gets them back without a build: DIR/_images is an OCI image layout holding every
// kept image, its blobs/ linked to DIR/_blobs like each image's cache (a layer the cache and the
// image share is kept once), and DIR/_results holds one small file per build input key saying
// which image of the layout that build gave. A CI cache must keep the whole of DIR, symbolic
// links included. What no kept result and no image's cache uses is removed by the caller
// (LocalCaches lists the caches).
const (
	keptImagesDir  = "_images"
	keptResultsDir = "_results"
)

// KeptImages are the directories where a local cache setting keeps built images: the OCI layout
// and the results by key (see keptImagesDir); "" and "" when setting is not a local cache.
func KeptImages(setting string) (layout, results string, err error) {
	if setting == "" {
		return "", "", nil
	}
	e, err := ParseCache(setting)
	if err != nil {
		return "", "", fmt.Errorf("%s=%w", CacheVariable, err)
	}
	if e.Type != "local" {
		return "", "", nil
	}
	dir, err := localDir(setting, e)
	if err != nil {
		return "", "", err
	}
	return filepath.Join(dir, keptImagesDir), filepath.Join(dir, keptResultsDir), nil
}

// sharedBlobs is the directory below a local BUILD_CACHE that holds the layers of every image's
// cache once: each image's directory links its blobs/ there.
const sharedBlobs = "_blobs" // no image's cacheKey starts with "_" (nor does _images, _results)

// ShareLocalBlobs makes the local cache directory dest (DIR/<image>) keep its blobs in DIR/_blobs,
// shared by every image's cache: without it each image's directory holds its own copy of the
// layers the images share — the base image and the build image, hundreds of MB, once per
// function. Blobs are named by digest and written by rename, so concurrent exports of the same
// layer agree. A dest with blobs of its own (an older cache) keeps them.
func ShareLocalBlobs(dest string) error {
	shared := filepath.Join(filepath.Dir(dest), sharedBlobs)
	if err := os.MkdirAll(filepath.Join(shared, "sha256"), 0o755); err != nil {
		return fmt.Errorf("%s: create the shared blob directory: %w", CacheVariable, err)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("%s: create %s: %w", CacheVariable, dest, err)
	}
	err := os.Symlink(filepath.Join("..", sharedBlobs), filepath.Join(dest, "blobs"))
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: link %s to the shared blobs: %w", CacheVariable, dest, err)
	}
	return nil
}

// cacheKey is image as a directory name and tag: lower-case letters, digits, '.', '_' and '-'.
func cacheKey(image string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			return r
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, image)
}

// LocalCaches are the image cache directories (DIR/<image>, each an OCI layout whose blobs/
// links to DIR/_blobs) of a local cache setting; none when setting is not a local cache or DIR
// does not exist yet.
func LocalCaches(setting string) ([]string, error) {
	layout, _, err := KeptImages(setting)
	if layout == "" || err != nil {
		return nil, err
	}
	dir := filepath.Dir(layout)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: list the image caches in %s: %w", CacheVariable, dir, err)
	}
	var caches []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "_") && !strings.HasPrefix(e.Name(), ".") {
			caches = append(caches, filepath.Join(dir, e.Name()))
		}
	}
	return caches, nil
}

// ClearIngests removes what writers leave in an image cache directory (one of LocalCaches):
// partial blobs of interrupted exports (ingest/) and the BuildKit client's empty lock file for
// each blob it ever wrote there (ingest-locks/: kept by the client so that clients sharing the
// directory agree, one more file per blob and run). Only while no client writes there — the
// caller holds the cache alone. It returns how many files it removed.
func ClearIngests(cache string) (int, error) {
	removed := 0
	for _, sub := range []string{"ingest", "ingest-locks"} {
		dir := filepath.Join(cache, sub)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, fmt.Errorf("%s: clear %s: %w", CacheVariable, dir, err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return removed, fmt.Errorf("%s: clear %s: %w", CacheVariable, dir, err)
			}
			removed++
		}
	}
	return removed, nil
}
