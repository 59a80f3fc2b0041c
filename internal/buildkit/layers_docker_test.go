package buildkit_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/buildkit"
	"github.com/dindbundler/dindbundler/internal/buildkit/buildkittest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/ocilayout"
)

// sharedBaseSize is the base layer the test's images share: random, so it is as big in every
// archive as on disk.
const sharedBaseSize = 128 << 20

// TestStandaloneBuildkitdSendsOnlyMissingLayers: images sharing a 128 MiB base layer, built on a
// standalone buildkitd, go into the engine through one OCI layout: the base crosses from the
// buildkitd into the layout once; the first image brings it into the engine, each next one only
// its own small top layer; three built at once bring the base of theirs once (both ways);
// every image has its files and layers. A second run (a new loader, the same layout and engine)
// sends nothing the engine has, and nothing crosses from the buildkitd again.
func TestStandaloneBuildkitdSendsOnlyMissingLayers(t *testing.T) {
	bin := buildkittest.Binary(t)
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		d := buildkittest.Start(t, bin)
		layout, err := ocilayout.Open(filepath.Join(t.TempDir(), "oci-layout"))
		is.NoErr(err)
		defer layout.Close()
		dir := t.TempDir()
		is.NoErr(writeRandom(filepath.Join(dir, "base"), sharedBaseSize, 11))
		is.NoErr(writeRandom(filepath.Join(dir, "base2"), sharedBaseSize/2, 12))
		var names []string
		for i := range 6 {
			name := fmt.Sprintf("dindbundlertest-bklayers-%d-%d:test", os.Getpid(), i)
			names = append(names, name)
			base := "base"
			if i >= 3 {
				base = "base2" // the three built at once share another base
			}
			is.NoErr(os.WriteFile(filepath.Join(dir, fmt.Sprintf("top%d", i)), []byte(name), 0o644))
			is.NoErr(os.WriteFile(filepath.Join(dir, fmt.Sprintf("Dockerfile%d", i)),
				fmt.Appendf(nil, "FROM scratch\nCOPY %s /base\nCOPY top%d /top\nCMD [\"/top\"]\n", base, i), 0o644))
		}
		enginetest.Cleanup(t, api, names...)

		run := func() (*ocilayout.Loader, *buildkit.Builder) {
			bk, err := buildkit.Connect(ctx, api, d.Addr)
			is.NoErr(err)
			t.Cleanup(func() { bk.Close() })
			loader := ocilayout.NewLoader(layout, api)
			bk.LoadThrough(loader)
			return loader, bk
		}
		build := func(bk *buildkit.Builder, i int) error {
			view := buildkit.NewView(nil)
			_, _, err := bk.Build(ctx, buildkit.Build{Name: names[i], ContextDir: dir, Dockerfile: fmt.Sprintf("Dockerfile%d", i)}, view)
			if cerr := view.Close(); err == nil {
				err = cerr
			}
			return err
		}

		loader, bk := run()
		var sent []int64
		for i := range 3 {
			before := loader.Sent()
			is.NoErr(build(bk, i))
			sent = append(sent, loader.Sent()-before)
		}
		crossed := layout.Received()
		t.Logf("%s: one after another, sent %.1f, %.3f, %.3f MB; %.1f MB crossed from the buildkitd", e.Name, mb(sent[0]), mb(sent[1]), mb(sent[2]), mb(crossed))
		is.True(crossed < sharedBaseSize+(2<<20)) // the base crossed once
		is.True(sent[0] > sharedBaseSize)         // the base went in with the first
		is.True(sent[1] < 1<<20)                  // then only the top layers and the metadata
		is.True(sent[2] < 1<<20)

		before := loader.Sent()
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := 3; i < 6; i++ {
			wg.Go(func() { errs[i] = build(bk, i) })
		}
		wg.Wait()
		for _, err := range errs[3:] {
			is.NoErr(err)
		}
		together := loader.Sent() - before
		crossedTogether := layout.Received() - crossed
		t.Logf("%s: three at once on another base of %.1f MB: sent %.1f MB; %.1f MB crossed from the buildkitd", e.Name, mb(sharedBaseSize/2), mb(together), mb(crossedTogether))
		is.True(crossedTogether < sharedBaseSize/2+(2<<20)) // that base crossed once too
		is.True(together > sharedBaseSize/2)
		is.True(together < sharedBaseSize/2+(1<<20)) // that base once

		for i, name := range names {
			files := enginetest.ImageFiles(t, api, name, "/top", "/base")
			is.Equal(files["/top"].Content, name)
			is.Equal(len(files["/base"].Content), map[bool]int{true: sharedBaseSize, false: sharedBaseSize / 2}[i < 3])
			img, err := layout.Image(name)
			is.NoErr(err)
			info, found, err := engine.Inspect(ctx, api, name)
			is.NoErr(err)
			is.True(found)
			is.Equal(len(info.RootFS.Layers), len(img.DiffIDs))
			for j, l := range info.RootFS.Layers {
				is.Equal(l, img.DiffIDs[j].String())
			}
		}

		// A second run: the same images, nothing new.
		received := layout.Received()
		loader2, bk2 := run()
		for i := range names {
			is.NoErr(build(bk2, i))
		}
		t.Logf("%s: second run: %.3f MB crossed from the buildkitd, %.3f MB sent to the engine for %d images, %.1f MB of layers left out",
			e.Name, mb(layout.Received()-received), mb(loader2.Sent()), len(names), mb(loader2.Omitted()))
		is.Equal(layout.Received(), received)           // the layout had every blob
		is.True(loader2.Sent() < int64(len(names))<<16) // metadata only: < 64 KB an image
	})
}

// TestLoaderRetriesWithEveryLayer: a layer the loader was told the engine has is gone when its
// image loads (here: its image removed after the loader asked): the load without it fails, and
// the whole archive is sent again and loads. Only on the classic store, where a removed image's
// layers go at once (the containerd store drops unreferenced blobs later, by its own GC).
func TestLoaderRetriesWithEveryLayer(t *testing.T) {
	bin := buildkittest.Binary(t)
	enginetest.Each(t, func(t *testing.T, e enginetest.Engine, api *engine.Engine) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if store, err := api.Store(ctx); err != nil || store != engine.ClassicStore {
			t.Skipf("the containerd store keeps a removed image's blobs until its GC runs (store %v, %v)", store, err)
		}
		d := buildkittest.Start(t, bin)
		layout, err := ocilayout.Open(filepath.Join(t.TempDir(), "oci-layout"))
		is.NoErr(err)
		defer layout.Close()
		dir := t.TempDir()
		is.NoErr(writeRandom(filepath.Join(dir, "base"), 8<<20, 13))
		first := fmt.Sprintf("dindbundlertest-bkretry-%d-a:test", os.Getpid())
		second := fmt.Sprintf("dindbundlertest-bkretry-%d-b:test", os.Getpid())
		enginetest.Cleanup(t, api, first, second)
		for i, name := range []string{first, second} {
			is.NoErr(os.WriteFile(filepath.Join(dir, fmt.Sprint("top", i)), []byte(name), 0o644))
			is.NoErr(os.WriteFile(filepath.Join(dir, fmt.Sprint("Dockerfile", i)), fmt.Appendf(nil, "FROM scratch\nCOPY base /base\nCOPY top%d /top\nCMD [\"/top\"]\n", i), 0o644))
		}
		bk, err := buildkit.Connect(ctx, api, d.Addr)
		is.NoErr(err)
		defer bk.Close()
		build := func(bk *buildkit.Builder, i int, name string) error {
			view := buildkit.NewView(nil)
			_, _, err := bk.Build(ctx, buildkit.Build{Name: name, ContextDir: dir, Dockerfile: fmt.Sprint("Dockerfile", i)}, view)
			is.NoErr(view.Close())
			return err
		}
		bk.LoadThrough(ocilayout.NewLoader(layout, api))
		is.NoErr(build(bk, 0, first))

		// A new run's loader learns the engine has the base, then the base goes.
		loader := ocilayout.NewLoader(layout, engine.Of(removesFirst{APIClient: api, ref: first, once: &sync.Once{}}))
		bk.LoadThrough(loader)
		is.NoErr(build(bk, 1, second))
		t.Logf("%s: sent %.1f MB in %d attempts", e.Name, mb(loader.Sent()), 1+loader.Retries())
		is.Equal(loader.Retries(), int64(1)) // the load without the base failed…
		is.True(loader.Sent() > 8<<20)       // …and the second attempt carried it
		files := enginetest.ImageFiles(t, api, second, "/top", "/base")
		is.Equal(files["/top"].Content, second)
		is.Equal(len(files["/base"].Content), 8<<20)
	})
}

// removesFirst is an engine that removes the image ref just before the first load it is sent,
// after the loader asked what the engine has.
type removesFirst struct {
	client.APIClient
	ref  string
	once *sync.Once
}

func (r removesFirst) ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error) {
	var err error
	r.once.Do(func() { err = engine.Remove(ctx, r.APIClient, r.ref) })
	if err != nil {
		return image.LoadResponse{}, err
	}
	return r.APIClient.ImageLoad(ctx, input, opts...)
}

func mb(n int64) float64 { return float64(n) / 1e6 }
