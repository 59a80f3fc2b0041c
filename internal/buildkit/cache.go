package buildkit

import (
	"fmt"
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
		dir := e.Attrs["dest"]
		if dir == "" {
			dir = e.Attrs["src"]
		}
		if dir == "" || !filepath.IsAbs(dir) {
			return nil, nil, fmt.Errorf("%s=%s: a local cache needs dest=DIR, an absolute directory", CacheVariable, setting)
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
