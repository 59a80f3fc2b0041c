package layerstore_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// recording remembers the names of every ImageSave call.
type recording struct {
	client.APIClient
	mu    sync.Mutex
	saves [][]string
}

func (r *recording) ImageSave(ctx context.Context, names []string, opts ...client.ImageSaveOption) (io.ReadCloser, error) {
	r.mu.Lock()
	r.saves = append(r.saves, append([]string{}, names...))
	r.mu.Unlock()
	return r.APIClient.ImageSave(ctx, names, opts...)
}

func want(t *testing.T, api client.APIClient, names ...string) []layerstore.Want {
	t.Helper()
	ids, missing, err := engine.ImageIDs(context.Background(), api, names)
	if err != nil || len(missing) > 0 {
		t.Fatalf("inspect %v: %v (missing %v)", names, err, missing)
	}
	var w []layerstore.Want
	for _, n := range names {
		w = append(w, layerstore.Want{Name: n, ID: ids[n]})
	}
	return w
}

// loadTar is the bundle's docker-save directory as one tar, as the entrypoint makes it; zstd
// layers are decompressed first, since this engine (20.10) cannot read them.
func loadTar(t *testing.T, s *layerstore.Store, set layerstore.Set) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range bundleimage.Files(set) {
		var data []byte
		var err error
		switch {
		case name == "manifest.json":
			data = bundleimage.DockerManifest(set)
		case strings.HasSuffix(name, ".json"):
			data, err = os.ReadFile(filepath.Join(s.Dir, "configs", name))
		default:
			var f *os.File
			if f, err = os.Open(filepath.Join(s.Dir, "sha256", name)); err == nil {
				var r io.ReadCloser = f
				if set.Compression == layerstore.Zstd {
					r, err = layerstore.Decompress(f)
				}
				if err == nil {
					data, err = io.ReadAll(r)
				}
				f.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	return &buf
}

func TestExportSharesLayersAndLoadsBack(t *testing.T) {
	enginetest.Each(t, exportSharesLayersAndLoadsBackOn)
}

func exportSharesLayersAndLoadsBackOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	ctx := context.Background()
	text := []byte(strings.Repeat("a compressible line of text for the layer store\n", 20000)) // ~1 MB
	for _, c := range []layerstore.Compression{layerstore.None, layerstore.Gzip, layerstore.Zstd} {
		t.Run(string(c), func(t *testing.T) {
			is := is.New(t)
			sfx := fmt.Sprint(time.Now().UnixNano())
			base := "layerstoretest-base-" + sfx + ":1"
			a, b := "layerstoretest-a-"+sfx+":1", "layerstoretest-b-"+sfx+":1"
			enginetest.ScratchImage(t, api, base, map[string][]byte{"base.txt": text})
			enginetest.ScratchImage(t, api, a, map[string][]byte{"a.txt": []byte("a " + sfx)}, enginetest.From(base))
			enginetest.ScratchImage(t, api, b, map[string][]byte{"b.txt": []byte("b " + sfx)}, enginetest.From(base))
			wants := want(t, api, a, b)

			s, err := layerstore.Open(t.TempDir())
			is.NoErr(err)
			rec := &recording{APIClient: api}
			imgs, err := s.Export(ctx, rec, wants, c, nil, 0)
			is.NoErr(err)
			is.Equal(rec.saves, [][]string{{a, b}}) // one save for both
			is.Equal(len(imgs), 2)
			is.Equal(imgs[0].DiffIDs[0], imgs[1].DiffIDs[0]) // the shared base layer…
			files, err := os.ReadDir(filepath.Join(s.Dir, "sha256"))
			is.NoErr(err)
			is.Equal(len(files), 3) // …is stored once: base, a, b
			info, err := os.Stat(s.LayerPath(imgs[0].DiffIDs[0], c))
			is.NoErr(err)
			if c == layerstore.None {
				is.True(info.Size() > int64(len(text)))
			} else {
				is.True(info.Size() < int64(len(text))/10) // compressed once, per layer
			}

			// The docker-save directory loads back into the engine as the same images: the same
			// config digests and layers (with the containerd image store the image ID, a
			// manifest digest, is another: the load makes a manifest of its own).
			set := layerstore.Set{Compression: c, Images: imgs}
			is.NoErr(engine.Remove(ctx, api, a, b))
			is.NoErr(engine.Load(ctx, api, loadTar(t, s, set), nil))
			again, err := layerstore.Open(t.TempDir())
			is.NoErr(err)
			reloaded, err := again.Export(ctx, api, want(t, api, a, b), c, nil, 0)
			is.NoErr(err)
			for i := range imgs {
				is.Equal(reloaded[i].Config, imgs[i].Config)
				is.Equal(reloaded[i].DiffIDs, imgs[i].DiffIDs)
			}
		})
	}
}

func TestExportOnlyWhatChanged(t *testing.T) { enginetest.Each(t, exportOnlyWhatChangedOn) }

func exportOnlyWhatChangedOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	sfx := fmt.Sprint(time.Now().UnixNano())
	base := "layerstoretest-base-" + sfx + ":1"
	a, b := "layerstoretest-a-"+sfx+":1", "layerstoretest-b-"+sfx+":1"
	enginetest.ScratchImage(t, api, base, map[string][]byte{"base.txt": []byte("base " + sfx)})
	enginetest.ScratchImage(t, api, a, map[string][]byte{"a.txt": []byte("a")}, enginetest.From(base))
	enginetest.ScratchImage(t, api, b, map[string][]byte{"b.txt": []byte("b")}, enginetest.From(base))
	s, err := layerstore.Open(t.TempDir())
	is.NoErr(err)
	_, err = s.Export(ctx, api, want(t, api, a, b), layerstore.Gzip, nil, 0)
	is.NoErr(err)

	// b is rebuilt: only b is exported again; the base layer is not stored twice.
	enginetest.ScratchImage(t, api, b, map[string][]byte{"b.txt": []byte("b, changed")}, enginetest.From(base))
	wants := want(t, api, a, b)
	found, absent, err := s.Lookup([]string{wants[0].ID, wants[1].ID}, layerstore.Gzip)
	is.NoErr(err)
	is.Equal(absent, []string{wants[1].ID})
	is.Equal(len(found), 1)
	rec := &recording{APIClient: api}
	imgs, err := s.Export(ctx, rec, wants[1:], layerstore.Gzip, nil, 0)
	is.NoErr(err)
	is.Equal(rec.saves, [][]string{{b}})
	files, err := os.ReadDir(filepath.Join(s.Dir, "sha256"))
	is.NoErr(err)
	is.Equal(len(files), 4) // base, a, old b, new b

	// Another compression is another cache entry: the images count as absent.
	_, absent, err = s.Lookup([]string{wants[0].ID, imgs[0].ID}, layerstore.Zstd)
	is.NoErr(err)
	is.Equal(len(absent), 2)
}

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }
