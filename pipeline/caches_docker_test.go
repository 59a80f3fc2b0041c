package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/bundlefile"
	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/config"
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
	api, p, b := hostBundler(t)
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
	enginetest.Each(t, rebuildRemovesReplacedImagesOn)
}

func rebuildRemovesReplacedImagesOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "")
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
	_, _, b := hostBundler(t)
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

// killedExportEnv names the settings a child test process exports with (TestKilledExportLeavesNothing).
const killedExportEnv = "DINDBUNDLER_TEST_KILLED_EXPORT"

// An export killed part-way (SIGKILL: no deferred clean-up runs) leaves its hidden temporary
// file; the next export removes it, and BUILD_DIR then holds only the export's files.
func TestKilledExportLeavesNothing(t *testing.T) {
	if spec := os.Getenv(killedExportEnv); spec != "" {
		exportInChild(t, spec)
		return
	}
	is := is.New(t)
	ctx := context.Background()
	_, p, b := hostBundler(t)
	is.NoErr(runAll(t, ctx, b))
	before := buildFiles(t, b.Config.BuildDir)

	spec, err := json.Marshal(map[string]any{"dir": p.dir, "settings": append(append([]string{}, p.environ...), "PRODUCER=true")})
	is.NoErr(err)
	child := exec.Command(os.Args[0], "-test.run=^TestKilledExportLeavesNothing$")
	child.Env = append(os.Environ(), killedExportEnv+"="+string(spec))
	is.NoErr(child.Start())
	var partial string
	for deadline := time.Now().Add(2 * time.Minute); partial == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, f := range buildFiles(t, b.Config.BuildDir) {
			if strings.Contains(filepath.Base(f), ".tmp-") {
				if info, err := os.Stat(filepath.Join(b.Config.BuildDir, f)); err == nil && info.Size() > 0 {
					partial = f
				}
			}
		}
	}
	is.NoErr(child.Process.Kill())
	_ = child.Wait()
	is.True(partial != "") // the export was caught writing
	_, err = os.Stat(filepath.Join(b.Config.BuildDir, partial))
	is.NoErr(err) // SIGKILL left it
	t.Logf("killed the export while it wrote %s", partial)

	is.NoErr(b.RunStage(ctx, "export", (*Bundler).Export))
	after := buildFiles(t, b.Config.BuildDir)
	out := bundlefile.Path(b.Config.BuildDir, b.Config.BundleTag, "gzip", "")
	var added []string
	for _, f := range after {
		if !slices.Contains(before, f) {
			added = append(added, f)
		}
	}
	rel := func(p string) string { r, _ := filepath.Rel(b.Config.BuildDir, p); return r }
	// Only the export's own outputs and records are new; no temporary file is left.
	want := []string{rel(out), rel(bundlefile.SumPath(out)), "load.sh", filepath.Join("state", "export-"+filepath.Base(out)+".json")}
	slices.Sort(want)
	is.Equal(added, want)
}

// exportInChild is the child process of TestKilledExportLeavesNothing: it exports the bundle of
// the project spec names, until killed.
func exportInChild(t *testing.T, spec string) {
	var s struct {
		Dir      string   `json:"dir"`
		Settings []string `json:"settings"`
	}
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(s.Settings, s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	api := enginetest.Client(t)
	b := &Bundler{Config: cfg, Docker: api, Log: testLog{t}}
	if err := b.RunStage(context.Background(), "export", (*Bundler).Export); err != nil {
		t.Fatal(err)
	}
}

// buildFiles lists the regular files under dir, relative to it, sorted.
func buildFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}
