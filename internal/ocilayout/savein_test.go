package ocilayout

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// savedImageFixture is one image as both save formats would carry it: its config and its layer
// tars (any bytes do: nothing here reads a layer's content).
type savedImageFixture struct {
	name   string
	config []byte
	layers [][]byte
}

func newFixture(name string, layers ...string) savedImageFixture {
	f := savedImageFixture{name: name}
	var cfg ocispec.Image
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.RootFS.Type = "layers"
	for _, l := range layers {
		f.layers = append(f.layers, []byte(l))
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromString(l))
	}
	f.config, _ = json.Marshal(cfg)
	return f
}

// mobyManifest is the manifest an Engine ≥ 25 writes for f on the classic store, spelled out as
// moby marshals it (image/tarexport save.go), not made by the code under test.
func (f savedImageFixture) mobyManifest() []byte {
	var layers []string
	for _, l := range f.layers {
		layers = append(layers, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}`, digest.FromBytes(l), len(l)))
	}
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]}`,
		digest.FromBytes(f.config), len(f.config), strings.Join(layers, ","))
}

type tarEntry struct {
	name, link string
	data       []byte
}

func tarOf(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.link != "" {
			h = &tar.Header{Name: e.name, Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: e.link}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// legacySave is f as Engine 20.10's `docker save` writes it: in name order, layers as
// <v1 id>/layer.tar, a layer saved twice linked to the first, the config as <hex>.json.
func (f savedImageFixture) legacySave(t *testing.T) []byte {
	var entries []tarEntry
	item := layerstore.ManifestItem{Config: digest.FromBytes(f.config).Encoded() + ".json", RepoTags: []string{f.name}}
	first := map[digest.Digest]string{}
	for i, l := range f.layers {
		dir := fmt.Sprintf("%064x", i+1) // a v1 ID
		entries = append(entries, tarEntry{name: dir + "/VERSION", data: []byte("1.0")}, tarEntry{name: dir + "/json", data: []byte(`{"id":"` + dir + `"}`)})
		if p, ok := first[digest.FromBytes(l)]; ok {
			entries = append(entries, tarEntry{name: dir + "/layer.tar", link: "../" + p})
		} else {
			entries = append(entries, tarEntry{name: dir + "/layer.tar", data: l})
			first[digest.FromBytes(l)] = dir + "/layer.tar"
		}
		item.Layers = append(item.Layers, dir+"/layer.tar")
	}
	mj, _ := json.Marshal([]layerstore.ManifestItem{item})
	entries = append(entries, tarEntry{name: item.Config, data: f.config}, tarEntry{name: "manifest.json", data: mj},
		tarEntry{name: "repositories", data: []byte(`{}`)})
	return tarOf(t, entries)
}

// ociSave is f as an Engine ≥ 25's `docker save` on the classic store writes it.
func (f savedImageFixture) ociSave(t *testing.T) []byte {
	man := f.mobyManifest()
	full, err := normalize(f.name)
	if err != nil {
		t.Fatal(err)
	}
	var entries []tarEntry
	blob := func(b []byte) string {
		n := blobName(digest.FromBytes(b))
		entries = append(entries, tarEntry{name: n, data: b})
		return n
	}
	item := layerstore.ManifestItem{Config: blob(f.config), RepoTags: []string{f.name}}
	seen := map[string]bool{}
	for _, l := range f.layers {
		n := blobName(digest.FromBytes(l))
		if !seen[n] {
			blob(l)
			seen[n] = true
		}
		item.Layers = append(item.Layers, n)
	}
	blob(man)
	idx, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man)),
		Annotations: map[string]string{imageNameAnnotation: full, ocispec.AnnotationRefName: "t"}}}})
	mj, _ := json.Marshal([]layerstore.ManifestItem{item})
	entries = append(entries, tarEntry{name: "index.json", data: idx}, tarEntry{name: "manifest.json", data: mj},
		tarEntry{name: "oci-layout", data: []byte(`{"imageLayoutVersion": "1.0.0"}`)})
	return tarOf(t, entries)
}

// ingest feeds the archive to a save ingest of l, entry by entry as engine.SaveEach does.
func ingest(t *testing.T, l *Layout, archive []byte, name string) (Saved, error) {
	t.Helper()
	in, err := l.newSaveIngest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := in.entry(h, tr); err != nil {
			return Saved{}, err
		}
	}
	return in.finish(name)
}

// TestIngestSaveBothFormats: an image saved by Engine 20.10 (legacy) and by an Engine ≥ 25 (OCI
// layout) lands in the layout as the same manifest (the one made for the legacy save is moby's,
// byte for byte), readable as the image; ingesting it again writes nothing (a layer of a legacy
// save is hashed and dropped, an OCI save's blob skipped) and leaves no ingest file behind.
func TestIngestSaveBothFormats(t *testing.T) {
	f := newFixture("fn:t", "base layer", "middle", "base layer", "top")
	want := f.mobyManifest()
	for _, first := range []string{"legacy", "oci"} {
		t.Run(first+" first", func(t *testing.T) {
			is := is.New(t)
			l, err := Open(t.TempDir())
			is.NoErr(err)
			defer l.Close()
			archives := map[string][]byte{"legacy": f.legacySave(t), "oci": f.ociSave(t)}
			second := map[string]string{"legacy": "oci", "oci": "legacy"}[first]

			s1, err := ingest(t, l, archives[first], f.name)
			is.NoErr(err)
			is.Equal(s1.Legacy, first == "legacy")
			is.Equal(s1.Image.Manifest.Digest, digest.FromBytes(want))
			is.Equal(len(s1.Image.Layers), 4)
			is.Equal(s1.Image.FullName, "docker.io/library/fn:t")
			man, err := os.ReadFile(l.BlobPath(s1.Image.Manifest.Digest))
			is.NoErr(err)
			is.Equal(string(man), string(want))
			img, err := l.Image(f.name)
			is.NoErr(err)
			is.Equal(img.Manifest, s1.Image.Manifest)
			is.Equal(s1.Read, int64(len(archivePayload(t, archives[first]))))
			is.True(s1.Written > 0)

			baseFile := l.BlobPath(digest.FromString("base layer"))
			before, err := os.Stat(baseFile)
			is.NoErr(err)
			time.Sleep(10 * time.Millisecond)
			s2, err := ingest(t, l, archives[second], f.name)
			is.NoErr(err)
			is.Equal(s2.Image.Manifest, s1.Image.Manifest)
			is.Equal(s2.Written, int64(0)) // every blob was there
			after, err := os.Stat(baseFile)
			is.NoErr(err)
			is.Equal(after.ModTime(), before.ModTime()) // not rewritten
			ingests, _ := os.ReadDir(filepath.Join(l.Dir(), "ingest"))
			is.Equal(len(ingests), 0)
		})
	}
}

// archivePayload is the content of the regular files of a tar archive, concatenated.
func archivePayload(t *testing.T, archive []byte) []byte {
	var out []byte
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			out = append(out, b...)
		}
	}
}

// TestIngestSaveRefusesADamagedLayer: a legacy layer whose tar is not the config's diffID fails
// the ingest, naming the layer, and nothing is named in the layout.
func TestIngestSaveRefusesADamagedLayer(t *testing.T) {
	is := is.New(t)
	l, err := Open(t.TempDir())
	is.NoErr(err)
	defer l.Close()
	f := newFixture("fn:t", "base", "top")
	f.layers[1] = []byte("top, changed")
	_, err = ingest(t, l, f.legacySave(t), f.name)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "layer 2 of the save has digest "+digest.FromString("top, changed").String()))
	names, err := l.Names()
	is.NoErr(err)
	is.Equal(len(names), 0)
}

// TestPlanSaved: how the image of a save is found, in either format, and what is refused.
func TestPlanSaved(t *testing.T) {
	f := newFixture("fn:t", "base", "top")
	man := f.mobyManifest()
	manDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man))}
	cfgName := digest.FromBytes(f.config).Encoded() + ".json"
	layerDesc := func(s string) ocispec.Descriptor {
		return ocispec.Descriptor{Digest: digest.FromString(s), Size: int64(len(s))}
	}
	index := func(descs ...ocispec.Descriptor) []byte {
		b, _ := json.Marshal(ocispec.Index{Manifests: descs})
		return b
	}
	named := func(d ocispec.Descriptor, full string) ocispec.Descriptor {
		d.Annotations = map[string]string{imageNameAnnotation: full}
		return d
	}
	other := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), Size: 5}
	ociBlobs := map[string]ocispec.Descriptor{blobName(manDesc.Digest): manDesc}
	legacyManifestJSON := func(items ...layerstore.ManifestItem) []byte { b, _ := json.Marshal(items); return b }
	legacyItem := layerstore.ManifestItem{Config: cfgName, RepoTags: []string{"fn:t"}, Layers: []string{"a/layer.tar", "b/layer.tar"}}
	legacyBlobs := map[string]ocispec.Descriptor{"a/layer.tar": layerDesc("base"), "b/layer.tar": layerDesc("top")}
	configs := map[string][]byte{cfgName: f.config}

	for _, c := range []struct {
		name    string
		files   savedFiles
		want    ocispec.Descriptor
		wantErr string
	}{
		{name: "oci: by its name", files: savedFiles{Index: index(named(other, "docker.io/library/other:t"), named(manDesc, "docker.io/library/fn:t")), Blobs: ociBlobs}, want: manDesc},
		{name: "oci: one image, no name", files: savedFiles{Index: index(manDesc, manDesc), Blobs: ociBlobs}, want: manDesc},
		{name: "oci: another image only", files: savedFiles{Index: index(named(other, "docker.io/library/other:t"), manDesc), Blobs: ociBlobs},
			wantErr: "index.json names no image fn:t (of 2)"},
		{name: "oci: an index", files: savedFiles{Index: index(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: manDesc.Digest, Size: 1}), Blobs: ociBlobs},
			wantErr: "is a application/vnd.oci.image.index.v1+json, not one image's manifest"},
		{name: "oci: the manifest not in the save", files: savedFiles{Index: index(named(other, "docker.io/library/fn:t"))},
			wantErr: "the save lacks the manifest " + other.Digest.String()},
		{name: "legacy: by a tag", files: savedFiles{Manifest: legacyManifestJSON(layerstore.ManifestItem{Config: cfgName, RepoTags: []string{"other:t"}}, legacyItem), Configs: configs, Blobs: legacyBlobs}, want: manDesc},
		{name: "legacy: a layer linked", files: savedFiles{Manifest: legacyManifestJSON(layerstore.ManifestItem{Config: cfgName, Layers: []string{"a/layer.tar", "c/layer.tar"}}),
			Configs: configs, Blobs: legacyBlobs, Links: map[string]string{"c/layer.tar": "b/layer.tar"}}, want: manDesc},
		{name: "legacy: a layer missing", files: savedFiles{Manifest: legacyManifestJSON(legacyItem), Configs: configs, Blobs: map[string]ocispec.Descriptor{"a/layer.tar": layerDesc("base")}},
			wantErr: "the save lacks the layer b/layer.tar of fn:t"},
		{name: "legacy: the config missing", files: savedFiles{Manifest: legacyManifestJSON(legacyItem), Blobs: legacyBlobs},
			wantErr: "the save lacks the config " + cfgName},
		{name: "legacy: the config damaged", files: savedFiles{Manifest: legacyManifestJSON(legacyItem), Configs: map[string][]byte{cfgName: append([]byte(" "), f.config...)}, Blobs: legacyBlobs},
			wantErr: "does not match its name"},
		{name: "legacy: layers swapped", files: savedFiles{Manifest: legacyManifestJSON(legacyItem), Configs: configs,
			Blobs: map[string]ocispec.Descriptor{"a/layer.tar": layerDesc("top"), "b/layer.tar": layerDesc("base")}},
			wantErr: "layer 1 of the save has digest " + digest.FromString("top").String()},
		{name: "legacy: two images, neither named", files: savedFiles{Manifest: legacyManifestJSON(layerstore.ManifestItem{Config: cfgName}, layerstore.ManifestItem{Config: cfgName}), Configs: configs},
			wantErr: "names 0 images as fn:t (of 2)"},
		{name: "no archive", files: savedFiles{}, wantErr: "neither index.json nor manifest.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			got, err := planSaved(c.files, "fn:t")
			if c.wantErr != "" {
				is.True(err != nil)
				if !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %q lacks %q", err, c.wantErr)
				}
				return
			}
			is.NoErr(err)
			is.Equal(got.Manifest, c.want)
			is.Equal(got.FullName, "docker.io/library/fn:t")
			if got.Legacy {
				is.Equal(string(got.ManifestJSON), string(man))
				is.Equal(got.Config, f.config)
			}
		})
	}
}

// TestLegacyManifestWithoutLayers: an image of no layers gets "layers":[] as moby writes it.
func TestLegacyManifestWithoutLayers(t *testing.T) {
	is := is.New(t)
	f := newFixture("empty:t")
	got, cfg, err := legacyManifest(f.config, nil)
	is.NoErr(err)
	is.Equal(string(got), string(f.mobyManifest()))
	is.Equal(cfg.Digest, digest.FromBytes(f.config))
	_, _, err = legacyManifest(f.config, []ocispec.Descriptor{{Digest: digest.FromString("x")}})
	is.True(err != nil && strings.Contains(err.Error(), "the config lists 0 layers, the save 1"))
}

// TestIngestSaveConcurrently: two builds' saves of images sharing a base, ingested at once into
// one layout, both land, and each blob is written once (the second save waits on the first's
// ingest of it, then finds it); an ingest an interrupted save left half-written is resumed, not
// appended to.
func TestIngestSaveConcurrently(t *testing.T) {
	is := is.New(t)
	l, err := Open(t.TempDir())
	is.NoErr(err)
	defer l.Close()
	base := strings.Repeat("base layer ", 1<<16)
	a, b := newFixture("a:t", base, "top a"), newFixture("b:t", base, "top b")

	// An interrupted save left half of the base.
	ctx := context.Background()
	d := digest.FromString(base)
	w, err := l.Store().Writer(ctx, content.WithRef("dindbundler-save-"+d.String()), content.WithDescriptor(ocispec.Descriptor{Digest: d, Size: int64(len(base))}))
	is.NoErr(err)
	_, err = w.Write([]byte(base[:len(base)/2]))
	is.NoErr(err)
	is.NoErr(w.Close())

	results := make(chan Saved, 2)
	errs := make(chan error, 2)
	for _, f := range []savedImageFixture{a, b} {
		go func() {
			s, err := ingest(t, l, f.ociSave(t), f.name)
			results <- s
			errs <- err
		}()
	}
	var written int64
	for range 2 {
		is.NoErr(<-errs)
		written += (<-results).Written
	}
	var want int64 // every blob once; the base's first half was there
	for _, f := range []savedImageFixture{a, b} {
		want += int64(len(f.config) + len(f.layers[1]) + len(f.mobyManifest()))
	}
	want += int64(len(base))
	is.Equal(written, want)
	got, err := os.ReadFile(l.BlobPath(d))
	is.NoErr(err)
	is.Equal(string(got), base)
	for _, n := range []string{"a:t", "b:t"} {
		_, err := l.Image(n)
		is.NoErr(err)
	}
}
