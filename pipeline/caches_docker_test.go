package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// A layer store file damaged in place (same size, times set back) after a build is seen by the
// save stage's skip path, which exports the image again: the next run succeeds at once instead of
// failing in the Image stage and healing only one run later.
func TestSaveVerifiesStoreBeforeSkipping(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	host := hostEngine(t)
	api := host.Client(t)
	p := newProject(t, host, api, "")
	b := p.bundler(t, api)
	enginetest.Cleanup(t, api, b.Config.BundleTag)
	is.NoErr(runAll(t, ctx, b))
	set, err := layerstore.ReadSet(b.setPath())
	is.NoErr(err)
	store, err := layerstore.Open(b.storeDir())
	is.NoErr(err)
	path := store.LayerPath(set.Images[0].DiffIDs[0], set.Compression)
	info, err := os.Stat(path)
	is.NoErr(err)
	data, err := os.ReadFile(path)
	is.NoErr(err)
	data[len(data)-1] ^= 0x55
	is.NoErr(os.WriteFile(path, data, 0o644))
	is.NoErr(os.Chtimes(path, info.ModTime(), info.ModTime()))

	var log bytes.Buffer
	again := p.bundler(t, api)
	again.Log = io.MultiWriter(&log, testLog{t})
	is.NoErr(runAll(t, ctx, again)) // healed in the same run
	is.True(!strings.Contains(log.String(), "save: skipped"))
	is.True(strings.Contains(log.String(), "is damaged"))
	is.NoErr(store.VerifyLayer(set.Images[0].DiffIDs[0], set.Compression))
}

// A rebuild after a function changed leaves neither the replaced bundle image nor the replaced
// layers image in the engine: both were made by the run and nothing uses them.
func TestRebuildRemovesReplacedImages(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	host := hostEngine(t)
	api := host.Client(t)
	p := newProject(t, host, api, "")
	b := p.bundler(t, api)
	enginetest.Cleanup(t, api, b.Config.BundleTag)
	is.NoErr(runAll(t, ctx, b))
	firstChain, err := bundleimage.ReadChain(b.statePath("layers"))
	is.NoErr(err)
	firstBundle, _, err := imageLayers(ctx, api, b.Config.BundleTag)
	is.NoErr(err)
	enginetest.Cleanup(t, api, firstChain.Image)
	is.True(firstChain.Image != "")

	// The function changes: a new image under the same name, recorded by the producer.
	fn := p.manifest.Images[0].Name
	p.manifest.Images[0].Digest = enginetest.ScratchImage(t, api, fn, map[string][]byte{"handler": randomText(t, 1<<20)})
	data, err := json.Marshal(p.manifest)
	is.NoErr(err)
	later := time.Now().Add(2 * time.Second)
	is.NoErr(os.Chtimes(filepath.Join(p.dir, "stack/src/app.py"), later, later))
	is.NoErr(runAll(t, ctx, p.bundler(t, api, "FAKE_MANIFEST="+string(data))))
	secondChain, err := bundleimage.ReadChain(b.statePath("layers"))
	is.NoErr(err)
	is.True(secondChain.Image != firstChain.Image) // a new layers image was made
	for _, gone := range []string{firstChain.Image, firstBundle} {
		_, found, err := engine.Inspect(ctx, api, gone)
		is.NoErr(err)
		is.True(!found) // the replaced image is gone
	}
	_, found, err := engine.Inspect(ctx, api, secondChain.Image)
	is.NoErr(err)
	is.True(found) // the current layers image stays: the next build reuses it
}

// Temporary files an interrupted run left in BUILD_DIR (an export killed part-way, a spool of the
// layer store) are removed by the next run, under BUILD_DIR's lock.
func TestRunRemovesStaleTempFiles(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	host := hostEngine(t)
	api := host.Client(t)
	p := newProject(t, host, api, "")
	b := p.bundler(t, api)
	enginetest.Cleanup(t, api, b.Config.BundleTag)
	stale := []string{
		filepath.Join(b.Config.BuildDir, ".bundle-latest.tar.gz.tmp-123456"),
		filepath.Join(b.Config.BuildDir, ".export-layer.tmp-42"),
		filepath.Join(b.Config.BuildDir, "layers", "tmp", "spool-99"),
		filepath.Join(b.Config.BuildDir, "state", ".image.json.tmp-7"),
	}
	keep := filepath.Join(b.Config.BuildDir, "notes.tmp-1") // not a name the tool writes
	for _, f := range append(stale, keep) {
		is.NoErr(os.MkdirAll(filepath.Dir(f), 0o755))
		is.NoErr(os.WriteFile(f, []byte("partial"), 0o644))
	}
	is.NoErr(runAll(t, ctx, b))
	for _, f := range stale {
		_, err := os.Stat(f)
		is.True(os.IsNotExist(err)) // removed
	}
	_, err := os.Stat(keep)
	is.NoErr(err)
}
