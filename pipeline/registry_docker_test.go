package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildctx"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/registry"
)

// TestImageServesRegistryImages: with CONTAINER_REGISTRY naming the external image's registry,
// the Image stage puts the registry binary (built once, then from the cache), its index and
// served.txt into the bundle, and the boot's docker-save directory leaves the served image
// out; a second run skips; back to the default address, nothing is served and all is loaded.
func TestImageServesRegistryImages(t *testing.T) { enginetest.Each(t, imageServesRegistryImagesOn) }

func imageServesRegistryImagesOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "")
	cache := "CACHE_DIR=" + t.TempDir()
	served := "CONTAINER_REGISTRY=" + registryHost(p.external)
	var log bytes.Buffer
	b := p.bundler(t, api, served, cache)
	b.Log = io.MultiWriter(&log, testLog{t})
	enginetest.Cleanup(t, api, b.Config.BundleTag)
	is.NoErr(runAll(t, ctx, b))
	is.Equal(strings.Count(log.String(), "built dindbundler-registry for linux/"), 1) // one line when built

	files := enginetest.ImageFiles(t, api, b.Config.BundleTag, "/app/bundle", "/images/manifest.json", "/usr/local/bin/"+buildctx.RegistryBinaryName)
	var idx registry.Index
	is.NoErr(json.Unmarshal([]byte(files["/app/bundle/registry.json"].Content), &idx))
	is.Equal(idx.Address, registryHost(p.external))
	is.Equal(len(idx.Images), 1)
	is.Equal(idx.Images[0].Name, p.external)
	is.Equal(files["/app/bundle/served.txt"].Content, p.external+" pull\n") // compose does not run it
	var items []layerstore.ManifestItem
	is.NoErr(json.Unmarshal([]byte(files["/images/manifest.json"].Content), &items))
	is.Equal(len(items), 2) // the function and the service image: boot loads them, not the served one
	for _, it := range items {
		is.True(it.RepoTags[0] != p.external)
	}
	bin := files["/usr/local/bin/"+buildctx.RegistryBinaryName]
	is.Equal(bin.Mode.Perm(), os.FileMode(0o755))
	is.True(strings.HasPrefix(bin.Content, "\x7fELF"))

	// Nothing changed: the stage skips, and the binary comes from the cache without a word.
	log.Reset()
	b2 := p.bundler(t, api, served, cache)
	b2.Log = io.MultiWriter(&log, testLog{t})
	is.NoErr(runAll(t, ctx, b2))
	is.True(strings.Contains(log.String(), "image: skipped"))
	is.True(!strings.Contains(log.String(), "built dindbundler-registry"))

	// The default address serves none of these images: the bundle loads them all again.
	log.Reset()
	b3 := p.bundler(t, api, cache)
	b3.Log = io.MultiWriter(&log, testLog{t})
	is.NoErr(runAll(t, ctx, b3))
	is.True(strings.Contains(log.String(), "image: building"))
	files = enginetest.ImageFiles(t, api, b.Config.BundleTag, "/app/bundle", "/images/manifest.json")
	_, hasIndex := files["/app/bundle/registry.json"]
	is.True(!hasIndex)
	is.Equal(files["/app/bundle/served.txt"].Content, "")
	is.NoErr(json.Unmarshal([]byte(files["/images/manifest.json"].Content), &items))
	is.Equal(len(items), 3)
}

// registryHost is the registry host of an image name as the engine reads it ("" when it is no
// image name: such a name is never served).
func registryHost(name string) string {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return ""
	}
	return reference.Domain(ref)
}
