package buildctx

import (
	"strings"

	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// ImageFiles are the entries of the bundle's docker-save directory (Bundle.Images) for the Save
// stage's set: manifest.json, files.txt (the files the entrypoint loads, one per line), the image
// configs and, withLayers, the layer files, all streamed from the store. Without the layers the
// Dockerfile's base (the layers image) already carries them.
func ImageFiles(set layerstore.Set, store *layerstore.Store, withLayers bool) []Entry {
	files := layerstore.Files(set)
	entries := []Entry{
		{Name: "manifest.json", Data: layerstore.DockerManifest(set), Mode: 0o644},
		{Name: "files.txt", Data: []byte(strings.Join(files, "\n") + "\n"), Mode: 0o644},
	}
	seen := map[string]bool{}
	for _, img := range set.Images {
		if name := layerstore.ConfigFile(img.Config); !seen[name] {
			seen[name] = true
			entries = append(entries, Entry{Name: name, Src: store.ConfigPath(img.Config), Mode: 0o644, Addressed: true})
		}
		if !withLayers {
			continue
		}
		for _, d := range img.DiffIDs {
			if name := layerstore.LayerFile(d, set.Compression); !seen[name] {
				seen[name] = true
				entries = append(entries, Entry{Name: name, Src: store.LayerPath(d, set.Compression), Mode: 0o644, Addressed: true})
			}
		}
	}
	return entries
}
