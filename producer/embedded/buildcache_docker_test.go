package embedded

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/docker/docker/api/types/image"
	"github.com/matryer/is"
)

// TestBuildCacheRestoresEveryStep: the template is built on a matrix engine with BUILD_CACHE
// type=local; then the engine loses the images and its whole build cache (a fresh engine with
// only the base image), and the build with the cache directory runs no step at all. Matrix
// engines only: the host engine's build cache is everyone's.
func TestBuildCacheRestoresEveryStep(t *testing.T) {
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		if !e.Matrix() {
			t.Skip("the host engine's build cache is shared: not pruned by a test")
		}
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		tmpl, req, names := buildKitTemplate(t, api, unitPrefix+"-cache")
		cacheDir := t.TempDir()
		req.Builder, req.BuildCache = BuilderBuildKit, "type=local,dest="+cacheDir
		if !e.Containerd() {
			// The engine's BuildKit exports no cache on the classic image store: refused up front.
			plan, err := Plan(tmpl, nil, req)
			is.NoErr(err)
			_, err = buildAll(ctx, api, []pendingBuild{{ImageBuild: plan.Images[0]}}, nil, req, keptCache{}, io.Discard)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), "BUILD_CACHE is set, but the engine's BuildKit cannot export or import a build cache"))
			return
		}
		build := func() map[string]builtImage {
			t.Helper()
			built, _ := buildPlanned(t, ctx, api, plannedBuilds(t, tmpl, req), req)
			return built
		}
		first := build()
		for _, name := range names {
			is.True(len(first[name].Steps.Ran) > 0)
			_, err := os.Stat(filepath.Join(cacheDir, cacheKeyOf(name), "index.json"))
			is.NoErr(err) // each image exported its cache
		}

		// A fresh engine: no built image, no build cache; the base stays.
		for _, name := range names {
			_, err := api.ImageRemove(ctx, name, image.RemoveOptions{Force: true})
			is.NoErr(err)
		}
		prune := exec.CommandContext(ctx, "docker", "builder", "prune", "--all", "--force")
		prune.Env = append(os.Environ(), e.Env(t)...)
		out, err := prune.CombinedOutput()
		if err != nil {
			t.Fatalf("docker builder prune on %s: %v\n%s", e.Name, err, out)
		}
		t.Logf("%s: %s", e.Name, strings.TrimSpace(string(out)))

		again := build()
		for _, name := range names {
			for _, s := range again[name].Steps.Ran {
				is.True(strings.Contains(s.Name, "] FROM ")) // only reading the local base: every step from the imported cache
			}
			is.True(len(again[name].Steps.Cached) > 0)
			_, err := api.ImageInspect(ctx, name)
			is.NoErr(err)
		}
	})
}

func cacheKeyOf(name string) string { return strings.NewReplacer(":", "-").Replace(name) }
