package layerstore

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/matryer/is"
)

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// layerTar is a tiny layer: one file.
func layerTar(t *testing.T, name, content string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	tw.Close()
	return buf.Bytes()
}

type archiveEntry struct {
	name, link string
	data       []byte
}

// ingest feeds entries to a new Ingest as engine.SaveEach would.
func ingest(t *testing.T, s *Store, c Compression, entries []archiveEntry) ([]Saved, error) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	in := s.NewIngest(c)
	defer in.Abort()
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Entry(h, tr); err != nil {
			return nil, err
		}
	}
	return in.Finish()
}

func TestIngestFormats(t *testing.T) {
	base := layerTar(t, "base.txt", strings.Repeat("base ", 2000))
	top := layerTar(t, "top.txt", "top")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(top)
	zw.Close()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digestOf(base) + `","` + digestOf(top) + `"]}}`)
	cfgHex := strings.TrimPrefix(digestOf(config), "sha256:")

	classic := []archiveEntry{
		{name: "v1a/VERSION", data: []byte("1.0")},
		{name: "v1a/json", data: []byte(`{"id":"v1a"}`)},
		{name: "v1a/layer.tar", data: base},
		{name: "v1b/layer.tar", data: top},
		{name: "v1c/layer.tar", link: "../v1a/layer.tar"}, // a layer written once, linked again
		{name: cfgHex + ".json", data: config},
		{name: "manifest.json", data: []byte(`[{"Config":"` + cfgHex + `.json","RepoTags":["x:1"],"Layers":["v1c/layer.tar","v1b/layer.tar"]}]`)},
		{name: "repositories", data: []byte(`{"x":{"1":"v1b"}}`)},
	}
	// OCI layout as newer engines write it; the top layer compressed, as the containerd image
	// store exports pulled layers.
	oci := []archiveEntry{
		{name: "blobs/sha256/" + strings.TrimPrefix(digestOf(base), "sha256:"), data: base},
		{name: "blobs/sha256/" + strings.TrimPrefix(digestOf(gz.Bytes()), "sha256:"), data: gz.Bytes()},
		{name: "blobs/sha256/" + cfgHex, data: config},
		{name: "index.json", data: []byte(`{"schemaVersion":2}`)},
		{name: "manifest.json", data: []byte(`[{"Config":"blobs/sha256/` + cfgHex + `","RepoTags":["x:1"],"Layers":["blobs/sha256/` +
			strings.TrimPrefix(digestOf(base), "sha256:") + `","blobs/sha256/` + strings.TrimPrefix(digestOf(gz.Bytes()), "sha256:") + `"]}]`)},
		{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	}
	for _, tt := range []struct {
		name    string
		entries []archiveEntry
	}{{"classic", classic}, {"oci", oci}} {
		for _, c := range []Compression{None, Gzip, Zstd} {
			t.Run(tt.name+" "+string(c), func(t *testing.T) {
				is := is.New(t)
				s, err := Open(t.TempDir())
				is.NoErr(err)
				saved, err := ingest(t, s, c, tt.entries)
				is.NoErr(err)
				is.Equal(len(saved), 1)
				is.Equal(saved[0].Config, digestOf(config))
				is.Equal(saved[0].DiffIDs, []string{digestOf(base), digestOf(top)})
				is.Equal(saved[0].RepoTags, []string{"x:1"})
				is.Equal(saved[0].Sizes, []int64{int64(len(base)), int64(len(top))}) // uncompressed, also of the gzip blob
				for _, want := range [][]byte{base, top} {
					f, err := os.Open(s.LayerPath(digestOf(want), c))
					is.NoErr(err)
					head := make([]byte, 4)
					io.ReadFull(f, head)
					f.Seek(0, 0)
					is.Equal(Detect(head), c) // stored in the chosen compression
					zr, err := Decompress(f)
					is.NoErr(err)
					got, err := io.ReadAll(zr)
					is.NoErr(err)
					f.Close()
					is.True(bytes.Equal(got, want)) // and decompresses to the layer
				}
				cfg, err := os.ReadFile(s.ConfigPath(digestOf(config)))
				is.NoErr(err)
				is.Equal(cfg, config)
				left, err := os.ReadDir(filepath.Join(s.Dir, "tmp"))
				is.NoErr(err)
				is.Equal(len(left), 0) // no spool left behind
			})
		}
	}

	t.Run("a layer that does not match its config fails", func(t *testing.T) {
		is := is.New(t)
		s, err := Open(t.TempDir())
		is.NoErr(err)
		bad := append([]archiveEntry{}, classic...)
		bad[3] = archiveEntry{name: "v1b/layer.tar", data: layerTar(t, "top.txt", "tampered")}
		_, err = ingest(t, s, None, bad)
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "its config says")) // names the mismatch
	})
	t.Run("an archive without manifest.json fails", func(t *testing.T) {
		is := is.New(t)
		s, err := Open(t.TempDir())
		is.NoErr(err)
		_, err = ingest(t, s, None, classic[:6])
		is.True(err != nil)
	})
}

func TestMatch(t *testing.T) {
	saved := []Saved{
		{Config: "sha256:c1", RepoTags: []string{"app:1", "registry.local:5000/x/y:2"}, DiffIDs: []string{"sha256:l1"}},
		{Config: "sha256:c2", DiffIDs: []string{"sha256:l2"}},
	}
	tests := []struct {
		name    string
		want    []Want
		config  string
		wantErr string
	}{
		{"by tag", []Want{{"app:1", "sha256:c1"}}, "sha256:c1", ""},
		{"by tag, registry with port", []Want{{"registry.local:5000/x/y:2", "sha256:c1"}}, "sha256:c1", ""},
		{"untagged: by config digest", []Want{{"other:1", "sha256:c2"}}, "sha256:c2", ""},
		{"absent", []Want{{"nope:1", "sha256:c9"}}, "", "does not hold it"},
		{"replaced during the save", []Want{{"app:1", "sha256:c2"}}, "", "changed during the save"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := Match(saved, tt.want)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
				return
			}
			is.NoErr(err)
			is.Equal(got[0].Config, tt.config)
			is.Equal(got[0].Name, tt.want[0].Name)
		})
	}
}

// familiar is engine.FamiliarRef (tested there), except that what is not a reference matches
// only itself.
func TestFamiliar(t *testing.T) {
	is := is.New(t)
	is.Equal(familiar("docker.io/library/app"), "app:latest")
	is.Equal(familiar("Not a reference"), "Not a reference")
}

func TestCompressionExt(t *testing.T) {
	is := is.New(t)
	is.Equal(None.Ext(), ".tar")
	is.Equal(Gzip.Ext(), ".tar.gz")
	is.Equal(Zstd.Ext(), ".tar.zst")
}

func TestGC(t *testing.T) {
	is := is.New(t)
	s, err := Open(t.TempDir())
	is.NoErr(err)
	keep := Image{ID: "sha256:i1", Config: "sha256:c1", DiffIDs: []string{"sha256:l1"}, Sizes: []int64{1}}
	for _, p := range []string{
		s.LayerPath("sha256:l1", Gzip), s.LayerPath("sha256:l1", Zstd), s.LayerPath("sha256:l2", Gzip),
		s.ConfigPath("sha256:c1"), s.ConfigPath("sha256:c2"), filepath.Join(s.Dir, "tmp", "spool-1"),
	} {
		is.NoErr(os.WriteFile(p, []byte("x"), 0o644))
	}
	is.NoErr(s.writeRecord(keep))
	is.NoErr(s.writeRecord(Image{ID: "sha256:i2", Config: "sha256:c2", DiffIDs: []string{"sha256:l2"}}))
	set := Set{Compression: Gzip, Images: []Image{keep}}
	removed, _, err := s.GC(set)
	is.NoErr(err)
	is.Equal(removed, 5) // l1 zstd, l2, c2, record i2, the spool
	is.True(s.CompleteSet(set))
	is.True(!s.Complete(Image{Config: "sha256:c1", DiffIDs: []string{"sha256:l1"}}, Gzip)) // a record without sizes: export again
	_, ok, err := s.Record("sha256:i2")
	is.NoErr(err)
	is.True(!ok)
}
