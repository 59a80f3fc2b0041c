package ocilayout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }

// TestLoaderChecksAnAssumedBase: the engine pulled a base (gzip layers, its ID an index digest on
// the containerd store); the layout holds images on a base of the same layers stored otherwise
// (uncompressed blobs: the same diffIDs, other digests). On the classic store the layers are the
// same (chain IDs) and left out. On the containerd store of Engine 28 they are assumed, left out,
// and the check after the load finds the image without those blobs: it is sent again whole,
// once; the second image then leaves them out for good. Every image is complete and has its files.
func TestLoaderChecksAnAssumedBase(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		const layers, layerSize = 2, 4 << 20
		base, baseImg := enginetest.PushRandomIndex(t, e.Registry(t), "presence-other-blobs", "1", layers, layerSize)
		is.NoErr(engine.Pull(ctx, api, base, nil))
		enginetest.Cleanup(t, api, base)
		store, err := api.Store(ctx)
		is.NoErr(err)

		layout, err := ocilayout.Open(filepath.Join(t.TempDir(), "oci-layout"))
		is.NoErr(err)
		defer layout.Close()
		var names []string
		for _, top := range []string{"one", "two"} {
			name := enginetest.Unique("dindbundlertest-presence-" + top + ":test")
			names = append(names, name)
			is.NoErr(layout.Tag(name, uncompressedOn(t, layout, baseImg, top)))
		}
		enginetest.Cleanup(t, api, names...)

		loader := ocilayout.NewLoader(layout, api)
		var results []ocilayout.LoadResult
		for _, name := range names {
			res, err := loader.Load(ctx, name)
			is.NoErr(err)
			results = append(results, res)
		}
		t.Logf("%s (%s): first image sent %.1f MB (%.1f MB left out, retried %v), second %.3f MB (%.1f MB left out, retried %v)",
			e.Name, store, mb(results[0].Sent), mb(results[0].Omitted), results[0].Retried, mb(results[1].Sent), mb(results[1].Omitted), results[1].Retried)
		baseBytes := int64(layers * layerSize)
		checked := store == engine.ContainerdStore && engine.TellsManifests(api)
		switch {
		case store == engine.ClassicStore:
			is.True(!results[0].Retried)
			is.True(results[0].Omitted >= baseBytes) // the same layers by chain ID
		case checked:
			is.True(results[0].Retried)           // the assumed blobs were not the engine's…
			is.True(results[0].Sent >= baseBytes) // …so the base went after all
			// The load without the base's blobs went through (containerd's import does not look
			// for them): the check found the image incomplete, and the next attempt left out the
			// top layer the first had brought, rather than a failed load sent again whole.
			is.True(results[0].Omitted > 0 && results[0].Omitted < 1<<20)
		default: // an older containerd store: nothing assumed
			is.True(!results[0].Retried)
			is.True(results[0].Sent >= baseBytes)
		}
		is.True(!results[1].Retried)
		is.True(results[1].Omitted >= baseBytes) // the base is there now, as the layout's blobs
		is.True(results[1].Sent < 1<<20)

		for i, name := range names {
			files := enginetest.ImageFiles(t, api, name, "/top")
			is.Equal(files["/top"].Content, []string{"one", "two"}[i])
			if checked {
				img, err := layout.Image(name)
				is.NoErr(err)
				info, _, err := engine.InspectManifests(ctx, api, name)
				is.NoErr(err)
				available := false
				for _, m := range info.Manifests {
					available = available || (m.ID == img.Manifest.Digest.String() && m.Available)
				}
				is.True(available) // every blob of the image in the engine
			}
		}
	})
}

// uncompressedOn writes into l an image of base's layers stored uncompressed and a top layer
// holding /top (content top), and returns its manifest's descriptor.
func uncompressedOn(t *testing.T, l *ocilayout.Layout, base v1.Image, top string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	put := func(mediaType string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := content.WriteBlob(ctx, l.Store(), d.Digest.String(), bytes.NewReader(b), d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	var man ocispec.Manifest
	man.Versioned, man.MediaType = specs.Versioned{SchemaVersion: 2}, ocispec.MediaTypeImageManifest
	layers, err := base.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, layer := range layers {
		rc, err := layer.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		man.Layers = append(man.Layers, put(ocispec.MediaTypeImageLayer, b))
	}
	var tb bytes.Buffer
	tw := tarball.NewWriter(&tb)
	if err := tw.File("top", 0o644, []byte(top)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	topDesc := put(ocispec.MediaTypeImageLayer, tb.Bytes())
	man.Layers = append(man.Layers, topDesc)
	cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, v1.Hash{Algorithm: "sha256", Hex: topDesc.Digest.Encoded()})
	cf.History = nil
	cf.Config.Cmd = []string{"/top"} // a container of it can be created
	cb, err := json.Marshal(cf)
	if err != nil {
		t.Fatal(err)
	}
	man.Config = put(ocispec.MediaTypeImageConfig, cb)
	mb, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	return put(ocispec.MediaTypeImageManifest, mb)
}

func mb(n int64) float64 { return float64(n) / 1e6 }
