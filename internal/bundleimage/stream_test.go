package bundleimage

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// TestStreamFiles puts the load archive together as the entrypoint does (pieces, decompressed
// layers) and reads it back: the docker-save directory with uncompressed layers.
func TestStreamFiles(t *testing.T) {
	is := is.New(t)
	store, err := layerstore.Open(t.TempDir())
	is.NoErr(err)
	layers := map[string][]byte{
		"sha256:" + strings.Repeat("a", 64): bytes.Repeat([]byte("base layer "), 100), // 1100 bytes: padded
		"sha256:" + strings.Repeat("b", 64): make([]byte, 1024),                       // a multiple of 512
		"sha256:" + strings.Repeat("c", 64): []byte("x"),
	}
	for d, data := range layers {
		f, err := os.Create(store.LayerPath(d, layerstore.Zstd))
		is.NoErr(err)
		zw, err := layerstore.Zstd.NewWriter(f)
		is.NoErr(err)
		zw.Write(data)
		is.NoErr(zw.Close())
		is.NoErr(f.Close())
	}
	cfgA, cfgB := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)
	is.NoErr(os.WriteFile(store.ConfigPath(cfgA), []byte(`{"a":1}`), 0o644))
	is.NoErr(os.WriteFile(store.ConfigPath(cfgB), []byte(`{"b":2}`), 0o644))
	a, b, c := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64), "sha256:"+strings.Repeat("c", 64)
	set := layerstore.Set{Compression: layerstore.Zstd, Images: []layerstore.Image{
		{Name: "x:1", ID: cfgA, Config: cfgA, DiffIDs: []string{a, b}, Sizes: []int64{1100, 1024}},
		{Name: "y:1", ID: cfgB, Config: cfgB, DiffIDs: []string{a, c}, Sizes: []int64{1100, 1}},
	}}

	entries, err := StreamFiles(set, store)
	is.NoErr(err)
	files := map[string][]byte{}
	for _, e := range entries {
		files[strings.TrimPrefix(e.Name, Dir+"/")] = e.Data
	}
	var archive bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(string(files["stream.txt"])), "\n") {
		piece, layer, _ := strings.Cut(line, " ")
		archive.Write(files[piece])
		if layer != "-" {
			f, err := os.Open(filepath.Join(store.Dir, "sha256", layer))
			is.NoErr(err)
			zr, err := layerstore.Decompress(f)
			is.NoErr(err)
			_, err = io.Copy(&archive, zr)
			is.NoErr(err)
			f.Close()
		}
	}
	got, _ := readTar(t, &archive)
	rest, _ := io.ReadAll(&archive)
	is.Equal(len(rest), 0) // nothing after the end-of-archive marker
	is.Equal(string(got["manifest.json"]), string(DockerManifest(layerstore.Set{Compression: layerstore.None, Images: set.Images})))
	is.Equal(string(got[layerstore.ConfigFile(cfgB)]), `{"b":2}`)
	for d, data := range layers {
		is.Equal(got[layerstore.LayerFile(d, layerstore.None)], data) // each layer once, decompressed
	}
	is.Equal(len(got), 6)

	// Without sizes (a store from before they were recorded) or not zstd: no stream.
	old := set
	old.Images = []layerstore.Image{{Name: "x:1", Config: cfgA, DiffIDs: []string{a}}}
	entries, err = StreamFiles(old, store)
	is.NoErr(err)
	is.Equal(len(entries), 0)
	entries, err = StreamFiles(layerstore.Set{Compression: layerstore.Gzip, Images: set.Images}, store)
	is.NoErr(err)
	is.Equal(len(entries), 0)
}
