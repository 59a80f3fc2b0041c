package embedded

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/dindbundler/dindbundler/internal/buildkit/buildkittest"
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
		is.Equal(len(results), len(names)) // the older result of the changed function is gone
		is.True(strings.Contains(out, "kept 3 results, removed 1 older ones and "))
	})
}

// TestBuildCacheKeepsBuildkitdImages: on each engine (its image store: the host's classic 20.10,
// 28.5 classic, 28.5 containerd), a standalone buildkitd's images, which come back through the
// run's OCI layout with OCI media types, are kept in a local BUILD_CACHE too; a second engine
// (a fresh matrix engine; on the host, the same one without the images) with a new, empty
// buildkitd restores them in one load — same IDs, files and labels, not one build. Then one
// function's 4 MB file changes three times: each time that image alone is built and kept, the
// older result of it and the blobs only it and its cache used are removed, so the cache does
// not grow; what stays is enough to restore all three again without a build.
func TestBuildCacheKeepsBuildkitdImages(t *testing.T) {
	bin := buildkittest.Binary(t)
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-keepbkd")
		// buildkitd reads FROM images from registries, never from the engine's store, and none is
		// reachable here: the functions start from scratch.
		req.Vars = map[string]string{"RUNTIME_BASE_PYTHON3_12": "scratch"}
		cacheDir := t.TempDir()
		req.BuildKitHost = buildkittest.Start(t, bin).Addr
		req.BuildCache = "type=local,dest=" + cacheDir
		big := filepath.Join(tmpl.Dir, "fn1", "blob.bin")
		writeRandomFile(t, big, 4<<20, 0)
		// The images' builds alone (buildChanged): a whole run would first look for the base,
		// and scratch is none.
		run := func(api *engine.Engine, req Request) (map[string]manifest.Image, string) {
			t.Helper()
			plan, err := Plan(tmpl, nil, req)
			is.NoErr(err)
			is.NoErr(os.MkdirAll(filepath.Dir(req.ManifestPath()), 0o755))
			var out bytes.Buffer
			start := time.Now()
			built, err := buildChanged(ctx, api, plan.Images, nil, req, &out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Logf("%s: %s", e.Name, time.Since(start).Round(time.Millisecond))
			images := map[string]manifest.Image{}
			for _, img := range built {
				images[img.Name] = img
			}
			return images, out.String()
		}
		results := func() int {
			t.Helper()
			entries, err := os.ReadDir(filepath.Join(cacheDir, "_results"))
			is.NoErr(err)
			return len(entries)
		}
		first, out := run(api, req)
		t.Logf("%s, first engine:\n%s", e.Name, out)
		is.True(strings.Contains(out, "builds: on BUILDKIT_HOST="))
		is.True(!strings.Contains(out, "not kept"))
		is.Equal(results(), len(names)) // every image kept
		size, firstFiles := dirSize(t, cacheDir)
		t.Logf("%s: cache after the first run: %.2f MB in %d files: %v", e.Name, float64(size)/1e6, firstFiles, filesBelow(t, cacheDir))

		// A new machine: an empty engine, a new buildkitd with nothing in its state, the cache
		// directory, a new build directory.
		second := api
		if e.Matrix() {
			second = e.Fresh(t)
		} else {
			removeImages(t, ctx, api, names)
		}
		enginetest.Cleanup(t, second, names...)
		req.BuildKitHost = buildkittest.Start(t, bin).Addr
		req.OutputRoot = filepath.Join(t.TempDir(), "out")
		restored, out := run(second, req)
		t.Logf("%s, second engine:\n%s", e.Name, out)
		is.True(strings.Contains(out, "images: restored 3 images from the build cache in "))
		is.True(strings.Contains(out, "left out), 0 to build"))
		is.True(!strings.Contains(out, "built in")) // no build ran: not one step
		is.True(!strings.Contains(out, "builds: on "))
		for i, name := range names {
			is.Equal(restored[name].Digest, first[name].Digest) // the same image ID
			is.Equal(restored[name].DiffIDs, first[name].DiffIDs)
			info, err := second.ImageInspect(ctx, name)
			is.NoErr(err)
			is.Equal(info.ID, first[name].Digest)
			is.Equal(info.Config.Labels["com.esb.function"], fmt.Sprintf("Fn%d", i))
			got, _ := fileInImage(t, second, name, "/var/task/app.py")
			is.Equal(got, fmt.Sprintf("N = %d\n", i))
		}

		// fn1's big file changes, three times: it alone is built, and the cache stays bounded.
		for round := 1; round <= 3; round++ {
			writeRandomFile(t, big, 4<<20, byte(round))
			again, out := run(second, req)
			t.Logf("%s, round %d:\n%s", e.Name, round, out)
			is.True(strings.Contains(out, "images: 1 of 3 to build"))
			is.Equal(strings.Count(out, "built in"), 1)
			is.True(strings.Contains(out, names[1]+": built in"))
			is.True(again[names[1]].Digest != restored[names[1]].Digest)
			is.True(strings.Contains(out, "kept 3 results, removed 1 older ones and "))
			is.Equal(results(), len(names))
			after, files := dirSize(t, cacheDir)
			t.Logf("%s: cache after round %d: %.2f MB in %d files (after the first run %.2f MB): %v", e.Name, round, float64(after)/1e6, files, float64(size)/1e6, filesBelow(t, cacheDir))
			is.True(after < size+(3<<20)) // not one more 4 MB layer per round
			is.Equal(files, firstFiles)   // nor more files (blobs, results, BuildKit's lock files)
		}

		// What stayed is enough: the engine without the images gets all three back, none built.
		removeImages(t, ctx, second, names)
		req.OutputRoot = filepath.Join(t.TempDir(), "out")
		_, out = run(second, req)
		t.Logf("%s, after the rounds, images removed:\n%s", e.Name, out)
		is.True(strings.Contains(out, "images: restored 3 images from the build cache in "))
		is.True(!strings.Contains(out, "built in"))
	})
}

// removeImages removes names from api.
func removeImages(t *testing.T, ctx context.Context, api *engine.Engine, names []string) {
	t.Helper()
	for _, name := range names {
		if _, err := api.ImageRemove(ctx, name, image.RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// dirSize is the bytes and number of the regular files below dir, each file (inode) once.
func dirSize(t *testing.T, dir string) (int64, int) {
	t.Helper()
	seen := map[uint64]bool{}
	var size int64
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += info.Size()
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return size, files
}

// writeRandomFile writes size random bytes from seed (incompressible: a layer as big) to path.
func writeRandomFile(t *testing.T, path string, size int64, seed byte) {
	t.Helper()
	var b bytes.Buffer
	if _, err := io.CopyN(&b, rand.NewChaCha8([32]byte{seed}), size); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// filesBelow counts the regular files of each directory below dir (its path relative to dir).
func filesBelow(t *testing.T, dir string) map[string]int {
	t.Helper()
	count := map[string]int{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(p))
		count[rel]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return count
}

// TestBuildCacheKeepsBuildersImages: BUILDERS lists two buildkitds; the images each builds are
// kept, and restored once the engine lacks them. Whether a run keeps and restores is decided
// after the builders are connected: a builder that takes no BUILD_CACHE (the classic builder)
// is refused before anything is restored.
func TestBuildCacheKeepsBuildersImages(t *testing.T) {
	bin := buildkittest.Binary(t)
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-keepbld")
	req.Vars = map[string]string{"RUNTIME_BASE_PYTHON3_12": "scratch"}
	req.Builders = []string{buildkittest.Start(t, bin).Addr, buildkittest.Start(t, bin).Addr}
	cacheDir := t.TempDir()
	req.BuildCache = "type=local,dest=" + cacheDir
	plan, err := Plan(tmpl, nil, req)
	is.NoErr(err)
	run := func(req Request) (map[string]manifest.Image, string, error) {
		t.Helper()
		is.NoErr(os.MkdirAll(filepath.Dir(req.ManifestPath()), 0o755))
		var out bytes.Buffer
		built, err := buildChanged(ctx, api, plan.Images, nil, req, &out)
		images := map[string]manifest.Image{}
		for _, img := range built {
			images[img.Name] = img
		}
		return images, out.String(), err
	}
	first, out, err := run(req)
	t.Logf("two buildkitds:\n%s", out)
	is.NoErr(err)
	is.True(strings.Contains(out, "builds: on BUILDKIT_HOST="+req.Builders[0]+" and BUILDKIT_HOST="+req.Builders[1]))
	entries, err := os.ReadDir(filepath.Join(cacheDir, "_results"))
	is.NoErr(err)
	is.Equal(len(entries), len(names))

	removeImages(t, ctx, api, names)
	classic := req
	classic.Builders, classic.Builder = nil, BuilderClassic
	classic.OutputRoot = filepath.Join(t.TempDir(), "out")
	_, out, err = run(classic)
	is.True(err != nil) // refused before anything is restored
	is.True(strings.Contains(err.Error(), "BUILD_CACHE is set, but the classic builder has no build cache"))
	is.True(!strings.Contains(out, "restored"))

	req.OutputRoot = filepath.Join(t.TempDir(), "out")
	restored, out, err := run(req)
	t.Logf("the engine without the images:\n%s", out)
	is.NoErr(err)
	is.True(strings.Contains(out, "images: restored 3 images from the build cache in "))
	is.True(!strings.Contains(out, "built in"))
	for _, name := range names {
		is.Equal(restored[name].Digest, first[name].Digest)
	}
}
