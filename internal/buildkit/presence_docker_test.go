package buildkit_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/buildkit/buildkittest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// TestStandaloneBuildkitdLeavesOutAPulledBase: a base the engine pulled itself from a registry
// (as a function runtime base is), published as an index — on the containerd store its image
// ID is then the index digest, which the run's OCI layout never holds — and an image a
// buildkitd builds FROM the same base: the first load of the run leaves the base's layers out
// (by chain ID on the classic store; on the containerd store of Engine 28 by chain ID too, then
// checked: the engine holds every blob of the image after the load, and a save of it carries
// each layer), and the image has its files.
func TestStandaloneBuildkitdLeavesOutAPulledBase(t *testing.T) {
	bin := buildkittest.Binary(t)
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		reg := e.Registry(t)
		const layers, layerSize = 2, 8 << 20
		base, _ := enginetest.PushRandomIndex(t, reg, "presence-base", "1", layers, layerSize)
		is.NoErr(engine.Pull(ctx, api, base, nil))
		enginetest.Cleanup(t, api, base)
		baseInfo, _, err := engine.Inspect(ctx, api, base)
		is.NoErr(err)
		store, err := api.Store(ctx)
		is.NoErr(err)

		config := filepath.Join(t.TempDir(), "buildkitd.toml")
		is.NoErr(os.WriteFile(config, fmt.Appendf(nil, "[registry.%q]\n  http = true\n  insecure = true\n", reg), 0o644))
		d := buildkittest.Start(t, bin, "--config="+config)
		bk, err := buildkit.Connect(ctx, api, d.Addr)
		is.NoErr(err)
		defer bk.Close()
		layout, err := ocilayout.Open(filepath.Join(t.TempDir(), "oci-layout"))
		is.NoErr(err)
		defer layout.Close()
		loader := ocilayout.NewLoader(layout, api)
		bk.LoadThrough(loader)

		img := enginetest.Unique("dindbundlertest-presence:test")
		enginetest.Cleanup(t, api, img)
		dir := t.TempDir()
		is.NoErr(os.WriteFile(filepath.Join(dir, "top"), []byte(img), 0o644))
		is.NoErr(os.WriteFile(filepath.Join(dir, "Dockerfile"), fmt.Appendf(nil, "FROM %s\nCOPY top /top\nCMD [\"/top\"]\n", base), 0o644))
		view := buildkit.NewView(nil)
		start := time.Now()
		_, _, err = bk.Build(ctx, buildkit.Build{Name: img, ContextDir: dir}, view)
		is.NoErr(view.Close())
		is.NoErr(err)
		t.Logf("%s (%s, base ID %.19s…): built and loaded in %s; %.1f MB crossed from the buildkitd, %.3f MB sent to the engine, %.1f MB of layers left out, %d retries",
			e.Name, store, baseInfo.ID, time.Since(start).Round(100*time.Millisecond), mb(layout.Received()), mb(loader.Sent()), mb(loader.Omitted()), loader.Retries())
		is.True(loader.Omitted() >= layers*layerSize/2) // the base's compressed layers (random data: about their size)
		is.True(loader.Sent() < 1<<20)                  // the top layer and the metadata
		is.Equal(loader.Retries(), int64(0))

		files := enginetest.ImageFiles(t, api, img, "/top")
		is.Equal(files["/top"].Content, img)
		if store != engine.ContainerdStore {
			return
		}
		built, err := layout.Image(img)
		is.NoErr(err)
		if engine.TellsManifests(api) {
			info, found, err := engine.InspectManifests(ctx, api, img)
			is.NoErr(err)
			is.True(found)
			available := false
			for _, m := range info.Manifests {
				available = available || (m.ID == built.Manifest.Digest.String() && m.Available)
			}
			is.True(available) // every blob of the image in the engine's content store
		}
		saved := map[string]bool{}
		is.NoErr(engine.SaveEach(ctx, api, []string{img}, func(h *tar.Header, _ io.Reader) error {
			saved[h.Name] = true
			return nil
		}))
		for _, l := range built.Layers {
			is.True(saved["blobs/sha256/"+l.Digest.Encoded()]) // the save carries every layer
		}
	})
}
