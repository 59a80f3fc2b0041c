package ocilayout

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPruneRetaining: a layout whose blobs/ links to a shared directory (a local build cache's
// _images) keeps the blobs of its named images, of the images retain names, and of what
// another layout sharing the directory reaches (a BuildKit cache: index.json → manifest →
// config and layers); the rest goes, the link stays. retain runs only when the layout is held
// alone, and its failure removes nothing.
func TestPruneRetaining(t *testing.T) {
	is := is.New(t)
	root := t.TempDir()
	shared := filepath.Join(root, "_blobs")
	is.NoErr(os.MkdirAll(filepath.Join(shared, "sha256"), 0o755))
	link := func(dir string) {
		is.NoErr(os.MkdirAll(dir, 0o755))
		is.NoErr(os.Symlink(filepath.Join("..", "_blobs"), filepath.Join(dir, "blobs")))
	}
	link(filepath.Join(root, "_images"))
	link(filepath.Join(root, "fn-cache"))
	l, err := Open(filepath.Join(root, "_images"))
	is.NoErr(err)
	defer l.Close()

	named := writeImage(t, l, "base", "top named")
	is.NoErr(l.Tag("fn:t", named))
	retained := writeImage(t, l, "base", "top retained") // a kept result index.json no longer names
	dropped := writeImage(t, l, "base", "top dropped")
	// A cache export of the same directory: an image manifest whose config and layers are blobs.
	cacheLayer := writeImage(t, l, "cache layer") // its blobs stand for the cache's
	cacheImg, err := l.imageOf(cacheLayer)
	is.NoErr(err)
	cacheManifest := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: "application/vnd.buildkit.cacheconfig.v0", Digest: cacheImg.Config.Digest, Size: cacheImg.Config.Size},
		Layers: cacheImg.Layers}
	mb, _ := json.Marshal(cacheManifest)
	md := digest.FromBytes(mb)
	is.NoErr(os.WriteFile(filepath.Join(shared, "sha256", md.Encoded()), mb, 0o644))
	ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2},
		Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb))}}})
	is.NoErr(os.WriteFile(filepath.Join(root, "fn-cache", "index.json"), ib, 0o644))

	// Not alone: retain is not asked, nothing goes.
	other, err := Open(filepath.Join(root, "_images"))
	is.NoErr(err)
	asked := false
	pruned, removed, _, err := l.PruneRetaining(func() (Retain, error) { asked = true; return Retain{}, nil })
	is.NoErr(err)
	is.True(!pruned && !asked && removed == 0)
	is.NoErr(other.Close())

	// retain fails: nothing goes.
	_, removed, _, err = l.PruneRetaining(func() (Retain, error) { return Retain{}, errors.New("no") })
	is.True(err != nil)
	is.Equal(removed, 0)

	pruned, removed, freed, err := l.PruneRetaining(func() (Retain, error) {
		return Retain{Images: []ocispec.Descriptor{retained}, Layouts: []string{filepath.Join(root, "fn-cache"), filepath.Join(root, "gone")}}, nil
	})
	is.NoErr(err)
	is.True(pruned)
	is.Equal(removed, 4) // dropped's manifest, config and top layer; the cache stand-in's manifest
	is.True(freed > 0)
	exists := func(d digest.Digest) bool {
		_, err := os.Stat(filepath.Join(shared, "sha256", d.Encoded()))
		return err == nil
	}
	for _, m := range []ocispec.Descriptor{named, retained} {
		img, err := l.imageOf(m)
		is.NoErr(err)
		for _, b := range append(img.Layers, img.Config, img.Manifest) {
			is.True(exists(b.Digest))
		}
	}
	is.True(!exists(dropped.Digest))
	is.True(exists(md) && exists(cacheImg.Config.Digest) && exists(cacheImg.Layers[0].Digest)) // the cache's
	is.True(!exists(cacheLayer.Digest))                                                        // the stand-in image's manifest: nobody's
	fi, err := os.Lstat(filepath.Join(root, "_images", "blobs"))
	is.NoErr(err)
	is.True(fi.Mode()&os.ModeSymlink != 0) // the link stays
}
