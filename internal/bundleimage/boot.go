package bundleimage

import (
	"github.com/distribution/reference"

	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// Boot splits set into what the entrypoint loads at boot and what the bundle's registry serves
// instead: served names the images the registry serves (its index's names), used the images the
// compose file runs. An image is loaded at boot unless it is served and compose does not run it
// (a served image compose runs is loaded, once); the others are listed, with their names as set
// has them, in later: the registry serves them, and FUNCTIONS_PRELOAD decides whether the
// entrypoint pulls them. Names are compared as the engine reads them (esb-echo is
// docker.io/library/esb-echo:latest).
func Boot(set layerstore.Set, served, used []string) (boot layerstore.Set, later []string) {
	isServed, isUsed := normalized(served), normalized(used)
	boot = layerstore.Set{Compression: set.Compression, Images: []layerstore.Image{}}
	for _, img := range set.Images {
		n := normalize(img.Name)
		if isServed[n] && !isUsed[n] {
			later = append(later, img.Name)
			continue
		}
		boot.Images = append(boot.Images, img)
	}
	return boot, later
}

func normalized(names []string) map[string]bool {
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[normalize(n)] = true
	}
	return out
}

// normalize is name as the engine reads it; a name it cannot parse stays as it is (it then
// matches only itself).
func normalize(name string) string {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.TagNameOnly(ref).String()
}
