package bundleimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

func TestWriteLayersOCI(t *testing.T) {
	is := is.New(t)
	s, err := layerstore.Open(t.TempDir())
	is.NoErr(err)
	d1, d2 := "sha256:"+hex64("1"), "sha256:"+hex64("2")
	for _, d := range []string{d1, d2} {
		is.NoErr(os.WriteFile(s.LayerPath(d, layerstore.Zstd), []byte("layer file "+d), 0o644))
	}
	base := Base{Ref: "base:1", ID: "sha256:base", DiffIDs: []string{"sha256:b1"}, OS: "linux", Architecture: "amd64", Config: json.RawMessage(`{"Cmd":["sh"]}`)}
	baseLayers := []Descriptor{{MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", Digest: "sha256:gz1", Size: 42}}
	plan := ChainPlan{Groups: []Group{{Layers: []Layer{{DiffID: d1}}, DiffID: "sha256:kept"}, {Layers: []Layer{{DiffID: d2}}}}, Reuse: 1}

	var buf bytes.Buffer
	id, groups, err := WriteLayersOCI(&buf, s, base, baseLayers, plan, layerstore.Zstd)
	is.NoErr(err)

	entries, names := readTar(t, &buf)
	var index struct{ Manifests []Descriptor }
	is.NoErr(json.Unmarshal(entries["index.json"], &index))
	is.Equal(len(index.Manifests), 1)
	is.Equal(index.Manifests[0].Digest.String(), id) // the ID is the manifest digest
	manifest := entries["blobs/sha256/"+layerstore.Hex(id)]
	is.Equal(digest.FromBytes(manifest).String(), id)
	var m ocispec.Manifest
	is.NoErr(json.Unmarshal(manifest, &m))
	is.Equal(len(m.Layers), 3)
	is.Equal(m.Layers[0], baseLayers[0]) // the base's blob, as its manifest names it
	is.Equal(m.Layers[1].Digest, digest.Digest("sha256:kept"))
	kept, err := groupFiles(s, plan.Groups[0], layerstore.Zstd)
	is.NoErr(err)
	keptSize, err := groupSize(kept)
	is.NoErr(err)
	is.Equal(m.Layers[1].Size, keptSize) // a reused group: named, not sent
	sent := entries["blobs/sha256/group-1"]
	is.Equal(m.Layers[2], Descriptor{MediaType: mediaLayer, Digest: digest.FromBytes(sent), Size: int64(len(sent))})
	is.Equal(groups[1].DiffID, digest.FromBytes(sent).String()) // uncompressed: blob digest = diffID
	is.Equal(names, []string{"oci-layout", "blobs/sha256/group-1", "blobs/sha256/" + m.Config.Digest.Encoded(), "blobs/sha256/" + layerstore.Hex(id), "index.json"})

	var config struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	is.NoErr(json.Unmarshal(entries["blobs/sha256/"+m.Config.Digest.Encoded()], &config))
	is.Equal(config.RootFS.DiffIDs, []string{"sha256:b1", "sha256:kept", groups[1].DiffID})

	_, _, err = WriteLayersOCI(io.Discard, s, base, nil, plan, layerstore.Zstd)
	is.True(err != nil) // the base's blobs must be known
}

func hex64(c string) string { return string(bytes.Repeat([]byte(c), 64)) }

func TestResolveManifest(t *testing.T) {
	is := is.New(t)
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:c"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:l","size":7}]}`)
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
		{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:arm","platform":{"os":"linux","architecture":"arm64"}},
		{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:m","platform":{"os":"linux","architecture":"amd64"}}]}`)
	want := []Descriptor{{MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", Digest: "sha256:l", Size: 7}}

	got, err := resolveManifest(map[string][]byte{"m": manifest}, "sha256:m", "linux", "amd64")
	is.NoErr(err)
	is.Equal(got, want) // a manifest
	got, err = resolveManifest(map[string][]byte{"i": index}, "sha256:i", "linux", "amd64")
	is.NoErr(err)
	is.Equal(got, nil) // the platform's manifest is still to come in the save
	got, err = resolveManifest(map[string][]byte{"i": index, "m": manifest}, "sha256:i", "linux", "amd64")
	is.NoErr(err)
	is.Equal(got, want) // through the index to the platform's manifest
	_, err = resolveManifest(map[string][]byte{"i": index}, "sha256:i", "linux", "s390x")
	is.True(err != nil) // no manifest for the platform
}

// readTar reads a whole tar: the entries' contents by name, and the names in order.
func readTar(t *testing.T, r io.Reader) (map[string][]byte, []string) {
	t.Helper()
	entries := map[string][]byte{}
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries, names
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		entries[h.Name] = data
	}
}

// The classic store's builder-free bundle: a docker-save archive naming the parent's layers
// (which the engine has) without carrying them, and the new layer on top with its config.
func TestWriteTopDocker(t *testing.T) {
	is := is.New(t)
	parent := []byte(`{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},"history":[{"created_by":"a"},{"created_by":"b"}]}`)
	layer := []byte("the stack's files")
	var buf bytes.Buffer
	id, err := WriteTopDocker(&buf, parent, layer, "dindbundler: top", func(rc map[string]any) { rc["Cmd"] = []string{} })
	is.NoErr(err)
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		is.NoErr(err)
		data, err := io.ReadAll(tr)
		is.NoErr(err)
		files[h.Name] = data
	}
	is.Equal(len(files), 3)                                       // the new layer, the config, the manifest: no parent layer
	is.Equal(files["top.tar"], layer)                             // the new layer as it is
	is.Equal(id, digest.FromBytes(files["config.json"]).String()) // the classic store's image ID
	var m []layerstore.ManifestItem
	is.NoErr(json.Unmarshal(files["manifest.json"], &m))
	is.Equal(len(m), 1)
	is.Equal(m[0].Config, "config.json")
	is.Equal(m[0].Layers, []string{"parent/0.tar", "parent/1.tar", "top.tar"}) // one path per layer, parents' absent
	var cfg struct {
		Config struct{ Env, Cmd []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		History []struct {
			CreatedBy string `json:"created_by"`
		} `json:"history"`
	}
	is.NoErr(json.Unmarshal(files["config.json"], &cfg))
	is.Equal(cfg.RootFS.DiffIDs, []string{"sha256:aa", "sha256:bb", digest.FromBytes(layer).String()})
	is.Equal(len(cfg.History), 3)
	is.Equal(cfg.History[2].CreatedBy, "dindbundler: top")
	is.Equal(cfg.Config.Env, []string{"PATH=/bin"}) // the parent's runtime configuration, changed by runtime
	is.Equal(cfg.Config.Cmd, []string{})
	_, err = WriteTopDocker(io.Discard, []byte("{"), layer, "x", func(map[string]any) {})
	is.True(err != nil) // a broken parent config is an error
}

// WriteTop writes the format of the store the layers image was loaded on: an OCI layout naming
// the layers image's blobs on the containerd store, a docker-save archive naming its layers by
// chain on the classic one; either way only the new layer is in the archive.
func TestWriteTopByStore(t *testing.T) {
	s, err := layerstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	base := Base{Ref: "base:1", ID: "sha256:base", DiffIDs: []string{"sha256:b1"}, OS: "linux", Architecture: "amd64", Config: json.RawMessage(`{"Cmd":["sh"]}`)}
	baseLayers := []Descriptor{{MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", Digest: "sha256:gz1", Size: 42}}
	layer := []byte("the stack's files")
	tests := []struct {
		store engine.ImageStore
		names []string
	}{
		{engine.ClassicStore, []string{"top.tar", "config.json", "manifest.json"}},
		{engine.ContainerdStore, []string{"oci-layout", "blobs/sha256/top", "blobs/sha256/config", "blobs/sha256/manifest", "index.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.store.String(), func(t *testing.T) {
			is := is.New(t)
			li := Layers{Store: tt.store, Base: base, BaseLayers: baseLayers}
			var buf bytes.Buffer
			id, err := WriteTop(&buf, li, s, layerstore.Zstd, layer, "dindbundler: top", func(rc map[string]any) { rc["Cmd"] = []string{} })
			is.NoErr(err)
			entries, names := readTar(t, &buf)
			config := entries["config.json"]
			if tt.store == engine.ContainerdStore {
				var m ocispec.Manifest
				is.NoErr(json.Unmarshal(entries["blobs/sha256/"+layerstore.Hex(id)], &m)) // the ID is the manifest digest
				is.Equal(len(m.Layers), 2)
				is.Equal(m.Layers[0], baseLayers[0]) // the base's blob, named, not sent
				config = entries["blobs/sha256/"+m.Config.Digest.Encoded()]
				names[2], names[3] = "blobs/sha256/config", "blobs/sha256/manifest"
			} else {
				is.Equal(id, digest.FromBytes(config).String()) // the ID is the config digest
			}
			is.Equal(names, tt.names)
			var cfg struct {
				RootFS struct {
					DiffIDs []string `json:"diff_ids"`
				} `json:"rootfs"`
			}
			is.NoErr(json.Unmarshal(config, &cfg))
			is.Equal(cfg.RootFS.DiffIDs, []string{"sha256:b1", digest.FromBytes(layer).String()})
		})
	}
}
