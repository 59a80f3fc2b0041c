// Package bundleimage owns the bundle image and how it is made:
//   - its images directory (/images inside the bundle image): its layout as a docker-save
//     directory that `docker load` reads as it is (manifest.json, files.txt, the image configs
//     and the layer files, named as the layer store names them) and the build context entries
//     that fill it;
//   - the "layers image" the bundle builds FROM, which carries the layer files as image layers of
//     their own (PlanChain, LayersImage, WriteTop) so that a rebuild sends the engine only the
//     layers that are new;
//   - the bundle's build context as a whole (PlanContext: the stack's files through buildctx,
//     the images directory, what the bundle's registry serves from it, PlanRegistry) and its
//     build arguments;
//   - the bundle's runtime settings, said once (BundleRuntime; dind/Dockerfile's tail is checked
//     against it), and the two ways to the image: Assemble (the layers image plus one top layer,
//     loaded, verified and tagged, no builder) and Build (the classic builder on dind/Dockerfile).
//
// It must not export images or manage the layer store's files (that is package layerstore's),
// leaves the layout of the stack's files in the context to package buildctx, does not decide
// whether the image is fresh (the pipeline's Image stage does), and reaches the engine only
// through engine. dind/Dockerfile and dind/entrypoint.sh read the directory at /images.
package bundleimage

import (
	"encoding/json"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// Dir is the bundle's images directory: /images in the bundle image, images/ in its build
// context and in every layer of the layers image.
const Dir = "images"

// ContextEntries are the build context entries of the bundle's images directory for the Save
// stage's set, at their context paths (Dir and the files under it): manifest.json and files.txt
// for boot, the images the entrypoint loads at boot (a subset of set, see Boot: the others the
// bundle's registry serves from the same directory), the image configs of set and, withLayers,
// its layer files, all streamed from the store. Without the layers the Dockerfile's base (the
// layers image) already carries them.
func ContextEntries(set, boot layerstore.Set, store *layerstore.Store, withLayers bool) []buildctx.Entry {
	files := Files(boot)
	entries := []buildctx.Entry{
		{Name: Dir, Dir: true, Mode: 0o755},
		{Name: path.Join(Dir, "manifest.json"), Data: DockerManifest(boot), Mode: 0o644},
		{Name: path.Join(Dir, "files.txt"), Data: []byte(strings.Join(files, "\n") + "\n"), Mode: 0o644},
	}
	seen := map[string]bool{}
	for _, img := range set.Images {
		if name := layerstore.ConfigFile(img.Config); !seen[name] {
			seen[name] = true
			entries = append(entries, buildctx.Entry{Name: path.Join(Dir, name), Src: store.ConfigPath(img.Config), Mode: 0o644, Addressed: true})
		}
		if !withLayers {
			continue
		}
		for _, d := range img.DiffIDs {
			if name := layerstore.LayerFile(d, set.Compression); !seen[name] {
				seen[name] = true
				entries = append(entries, buildctx.Entry{Name: path.Join(Dir, name), Src: store.LayerPath(d, set.Compression), Mode: 0o644, Addressed: true})
			}
		}
	}
	return entries
}

// DockerManifest is the manifest.json of the bundle's docker-save directory: one entry per
// distinct image (names of the same image share it), layers named by LayerFile.
func DockerManifest(s layerstore.Set) []byte {
	var items []layerstore.ManifestItem
	index := map[string]int{}
	for _, img := range s.Images {
		if i, ok := index[img.ID]; ok {
			items[i].RepoTags = append(items[i].RepoTags, img.Name)
			continue
		}
		item := layerstore.ManifestItem{Config: layerstore.ConfigFile(img.Config), RepoTags: []string{img.Name}, Layers: []string{}}
		for _, d := range img.DiffIDs {
			item.Layers = append(item.Layers, layerstore.LayerFile(d, s.Compression))
		}
		index[img.ID] = len(items)
		items = append(items, item)
	}
	if items == nil {
		items = []layerstore.ManifestItem{}
	}
	data, _ := json.Marshal(items) // plain strings: cannot fail
	return append(data, '\n')
}

// Files lists the docker-save directory's files, sorted: manifest.json, the configs and the
// layer files. The entrypoint loads exactly these (layers of earlier builds may linger).
func Files(s layerstore.Set) []string {
	names := map[string]bool{"manifest.json": true}
	for _, img := range s.Images {
		names[layerstore.ConfigFile(img.Config)] = true
		for _, d := range img.DiffIDs {
			names[layerstore.LayerFile(d, s.Compression)] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}
