package bundleimage

import (
	"encoding/json"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/layerstore"
)

func TestDockerManifestAndFiles(t *testing.T) {
	is := is.New(t)
	set := layerstore.Set{Compression: layerstore.Zstd, Images: []layerstore.Image{
		{Name: "a:1", ID: "sha256:ia", Config: "sha256:ca", DiffIDs: []string{"sha256:base", "sha256:la"}},
		{Name: "b:1", ID: "sha256:ib", Config: "sha256:cb", DiffIDs: []string{"sha256:base"}},
		{Name: "a:latest", ID: "sha256:ia", Config: "sha256:ca", DiffIDs: []string{"sha256:base", "sha256:la"}},
	}}
	var items []layerstore.ManifestItem
	is.NoErr(json.Unmarshal(DockerManifest(set), &items))
	is.Equal(items, []layerstore.ManifestItem{
		{Config: "ca.json", RepoTags: []string{"a:1", "a:latest"}, Layers: []string{"base.tar.zst", "la.tar.zst"}}, // one entry per image, all its names
		{Config: "cb.json", RepoTags: []string{"b:1"}, Layers: []string{"base.tar.zst"}},
	})
	is.Equal(Files(set), []string{"base.tar.zst", "ca.json", "cb.json", "la.tar.zst", "manifest.json"})
	is.Equal(set.Layers(), []string{"sha256:base", "sha256:la"}) // first seen, shared base once
}
