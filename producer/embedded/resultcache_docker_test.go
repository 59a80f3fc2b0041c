package embedded

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/manifest"
	"github.com/matryer/is"
)

// TestBuildCacheRestoresImages: a template built with a local BUILD_CACHE keeps its images there;
// a second, empty engine of the same kind (a new CI machine) given only the cache directory and
// the base image gets every image back in one load without building anything — same IDs, same
// manifests — and after one function's code changes, builds only that one. On the classic image
// store the engine's BuildKit takes no BUILD_CACHE at all (TestBuildCacheRestoresEveryStep checks
// the refusal); the host engine has no second engine to start.
func TestBuildCacheRestoresImages(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		if !e.Containerd() {
			t.Skip("the engine's BuildKit keeps built images only on the containerd image store")
		}
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-keep")
		cacheDir := t.TempDir()
		req.Builder, req.BuildCache = BuilderBuildKit, "type=local,dest="+cacheDir
		run := func(api *engine.Engine, req Request) (map[string]manifest.Image, string) {
			t.Helper()
			var out bytes.Buffer
			m, err := runParsed(ctx, api, tmpl, nil, req, &out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			images := map[string]manifest.Image{}
			for _, img := range m.Images {
				images[img.Name] = img
			}
			return images, out.String()
		}
		first, out := run(api, req)
		t.Logf("%s, first engine:\n%s", e.Name, out)
		results, err := os.ReadDir(filepath.Join(cacheDir, "_results"))
		is.NoErr(err)
		is.Equal(len(results), len(names)) // every image kept
		index, err := os.ReadFile(filepath.Join(cacheDir, "_images", "index.json"))
		is.NoErr(err)
		baseInfo, err := api.ImageInspect(ctx, req.Vars["RUNTIME_BASE_PYTHON3_12"])
		is.NoErr(err)
		is.True(strings.Contains(string(index), baseInfo.ID)) // the base's manifest kept: its layers are not sent again

		// A new machine: an empty engine with the base image, the cache directory, a new
		// build directory.
		fresh := e.Fresh(t)
		_, err = engine.Copy(ctx, api, fresh, req.Vars["RUNTIME_BASE_PYTHON3_12"])
		is.NoErr(err)
		req.OutputRoot = filepath.Join(t.TempDir(), "out")
		restored, out := run(fresh, req)
		t.Logf("%s, fresh engine:\n%s", e.Name, out)
		is.True(strings.Contains(out, "images: restored 3 images from the build cache in "))
		is.True(strings.Contains(out, "left out), 0 to build"))
		is.True(!strings.Contains(out, "built in")) // no build ran: not one step
		is.True(!strings.Contains(out, "builds: on "))
		for _, name := range names {
			is.Equal(restored[name].Digest, first[name].Digest) // the same image ID
			is.Equal(restored[name].Config, first[name].Config)
			is.Equal(restored[name].DiffIDs, first[name].DiffIDs)
			a, err := api.ImageInspect(ctx, name)
			is.NoErr(err)
			b, err := fresh.ImageInspect(ctx, name)
			is.NoErr(err)
			is.Equal(b.ID, a.ID)
			is.Equal(b.Config.Labels, a.Config.Labels)
		}
		got, _ := fileInImage(t, fresh, names[1], "/var/task/app.py")
		is.Equal(got, "N = 1\n")

		// One function's code changes: only its image is built (and kept).
		writeFiles(t, tmpl.Dir, map[string]string{"fn1/app.py": "N = 'changed " + time.Now().String() + "'\n"})
		again, out := run(fresh, req)
		t.Logf("%s, one function changed:\n%s", e.Name, out)
		is.True(strings.Contains(out, "images: 1 of 3 to build"))
		is.Equal(strings.Count(out, "built in"), 1)
		is.True(strings.Contains(out, names[1]+": built in"))
		is.True(again[names[1]].Digest != restored[names[1]].Digest)
		is.Equal(again[names[0]].Digest, restored[names[0]].Digest)
		results, err = os.ReadDir(filepath.Join(cacheDir, "_results"))
		is.NoErr(err)
		is.Equal(len(results), len(names)+1)
	})
}
