package pipeline

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/config"
	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// A stored layer with one flipped byte fails the Image stage before anything is built, naming
// the file and its image; the file is gone, so the next run's save stage exports it again.
func TestReadSetVerifiesStoredLayers(t *testing.T) {
	is := is.New(t)
	b := &Bundler{Config: config.Config{BuildDir: t.TempDir(), Compression: "zstd"}}
	store, err := layerstore.Open(b.storeDir())
	is.NoErr(err)

	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	content := strings.Repeat("function code ", 1000)
	is.NoErr(tw.WriteHeader(&tar.Header{Name: "var/task/app.py", Mode: 0o644, Size: int64(len(content))}))
	_, err = tw.Write([]byte(content))
	is.NoErr(err)
	is.NoErr(tw.Close())
	diffID := fmt.Sprintf("sha256:%x", sha256.Sum256(layer.Bytes()))
	var zst bytes.Buffer
	zw, err := layerstore.Zstd.NewWriter(&zst)
	is.NoErr(err)
	_, err = zw.Write(layer.Bytes())
	is.NoErr(err)
	is.NoErr(zw.Close())
	is.NoErr(os.WriteFile(store.LayerPath(diffID, layerstore.Zstd), zst.Bytes(), 0o644))
	config := []byte(`{}`)
	configDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(config))
	is.NoErr(os.WriteFile(store.ConfigPath(configDigest), config, 0o644))

	m := manifest.Manifest{Images: []manifest.Image{{Name: "esb-fn:latest", Digest: "sha256:f"}}}
	set := layerstore.Set{Compression: layerstore.Zstd, Images: []layerstore.Image{{Name: "esb-fn:latest", ID: "sha256:f", Config: configDigest, DiffIDs: []string{diffID}, Sizes: []int64{int64(layer.Len())}}}}
	is.NoErr(layerstore.WriteSet(b.setPath(), set))
	_, _, err = b.readSet(m)
	is.NoErr(err) // intact

	p := store.LayerPath(diffID, layerstore.Zstd)
	data := bytes.Clone(zst.Bytes())
	data[len(data)/2] ^= 0x20
	is.NoErr(os.WriteFile(p, data, 0o644))
	_, _, err = b.readSet(m)
	is.True(err != nil) // the flipped byte is seen
	for _, want := range []string{"image: layer store file " + p + " of esb-fn:latest is damaged", "save stage exports it again"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not contain %q", err, want)
		}
	}
	_, _, err = b.readSet(m)
	is.True(strings.Contains(err.Error(), "lacks files or layer sizes of the saved images")) // removed: the save stage must run
}
