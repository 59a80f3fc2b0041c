package ocilayout

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// writeImage writes an image of the given layer contents into l through its Store (as an
// exporter does) and returns its manifest's descriptor.
func writeImage(t *testing.T, l *Layout, layers ...string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	put := func(mediaType string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := content.WriteBlob(ctx, l.Store(), d.Digest.String(), bytes.NewReader(b), d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	var cfg ocispec.Image
	cfg.RootFS.Type = "layers"
	var man ocispec.Manifest
	man.Versioned, man.MediaType = specs.Versioned{SchemaVersion: 2}, ocispec.MediaTypeImageManifest
	for _, s := range layers {
		man.Layers = append(man.Layers, put(ocispec.MediaTypeImageLayer, []byte(s)))
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromString(s))
	}
	cb, _ := json.Marshal(cfg)
	man.Config = put(ocispec.MediaTypeImageConfig, cb)
	mb, _ := json.Marshal(man)
	return put(ocispec.MediaTypeImageManifest, mb)
}

// TestTagConcurrently: images named at once in one layout are all in its index.json, each
// readable back; a blob written twice is stored once.
func TestTagConcurrently(t *testing.T) {
	is := is.New(t)
	l, err := Open(t.TempDir())
	is.NoErr(err)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			desc := writeImage(t, l, "shared base", fmt.Sprint("top ", i))
			if err := l.Tag(fmt.Sprintf("fn%d:t", i), desc); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ms, err := l.Manifests()
	is.NoErr(err)
	is.Equal(len(ms), 16)
	names, err := l.Names()
	is.NoErr(err)
	is.Equal(len(names), 16)
	is.Equal(names[0], "fn0:t")
	for i := range 16 {
		img, err := l.Image(fmt.Sprintf("fn%d:t", i))
		is.NoErr(err)
		is.Equal(img.FullName, fmt.Sprintf("docker.io/library/fn%d:t", i))
		is.Equal(len(img.Layers), 2)
	}
	// Renaming replaces.
	is.NoErr(l.Tag("fn0:t", writeImage(t, l, "other")))
	ms, _ = l.Manifests()
	is.Equal(len(ms), 16)
	img, err := l.Image("fn0:t")
	is.NoErr(err)
	is.Equal(len(img.Layers), 1)
	_, err = l.Image("missing:t")
	is.True(err != nil)
}

// TestWriteArchive: a load archive holds the OCI layout's files, a docker-save manifest.json
// naming every layer, and the blob files planned — not the omitted ones.
func TestWriteArchive(t *testing.T) {
	is := is.New(t)
	l, err := Open(t.TempDir())
	is.NoErr(err)
	is.NoErr(l.Tag("fn:t", writeImage(t, l, "base", "top")))
	img, err := l.Image("fn:t")
	is.NoErr(err)
	p := planArchive([]Image{img}, engine.ContainerdStore, func(k digest.Digest) bool { return k == img.Layers[0].Digest })
	var buf bytes.Buffer
	is.NoErr(writeArchive(&buf, l, p))
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		is.NoErr(err)
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	is.True(files["oci-layout"] != nil)
	var docker []layerstore.ManifestItem
	is.NoErr(json.Unmarshal(files["manifest.json"], &docker))
	is.Equal(docker, []layerstore.ManifestItem{{Config: blobName(img.Config.Digest), RepoTags: []string{"fn:t"},
		Layers: []string{blobName(img.Layers[0].Digest), blobName(img.Layers[1].Digest)}}})
	var idx ocispec.Index
	is.NoErr(json.Unmarshal(files["index.json"], &idx))
	is.Equal(idx.Manifests[0].Digest, img.Manifest.Digest)
	is.Equal(idx.Manifests[0].Annotations[imageNameAnnotation], "docker.io/library/fn:t")
	is.Equal(string(files[blobName(img.Layers[1].Digest)]), "top")
	_, hasBase := files[blobName(img.Layers[0].Digest)]
	is.True(!hasBase) // omitted
	is.True(files[blobName(img.Config.Digest)] != nil)
	is.True(files[blobName(img.Manifest.Digest)] != nil)
}

// TestPrune: blobs no named image uses (an image built again, its old top layer and manifest)
// are removed, those in use kept; nothing is removed while another Layout has the directory
// open, and the layout takes exports again after a prune.
func TestPrune(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	l, err := Open(dir)
	is.NoErr(err)
	defer l.Close()
	is.NoErr(l.Tag("a:t", writeImage(t, l, "base", "top a")))
	old := writeImage(t, l, "base", "top b")
	is.NoErr(l.Tag("b:t", old))
	is.NoErr(l.Tag("b:t", writeImage(t, l, "base", "top b again")))

	other, err := Open(dir)
	is.NoErr(err)
	pruned, removed, _, err := l.Prune()
	is.NoErr(err)
	is.True(!pruned) // another run has it open
	is.Equal(removed, 0)
	is.NoErr(other.Close())

	pruned, removed, freed, err := l.Prune()
	is.NoErr(err)
	is.True(pruned)
	is.Equal(removed, 3) // b's old manifest, config and top layer
	is.True(freed > 0)
	_, err = os.Stat(l.BlobPath(old.Digest))
	is.True(os.IsNotExist(err))
	for _, name := range []string{"a:t", "b:t"} {
		img, err := l.Image(name)
		is.NoErr(err)
		for _, b := range append(img.Layers, img.Config, img.Manifest) {
			_, err := os.Stat(l.BlobPath(b.Digest))
			is.NoErr(err)
		}
	}
	is.NoErr(l.Tag("c:t", writeImage(t, l, "top c"))) // still usable
	_, err = l.Image("c:t")
	is.NoErr(err)
}
