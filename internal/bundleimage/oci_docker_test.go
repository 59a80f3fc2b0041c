package bundleimage_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/bundleimage"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// TestLayersImageOnTheContainerdStore loads layers images as OCI layouts that carry only their
// new layers (the base's and the reused ones stay in the engine's content store), and builds on
// one. Only an engine with the containerd image store takes such a layout.
func TestLayersImageOnTheContainerdStore(t *testing.T) {
	api := enginetest.Client(t)
	ctx := context.Background()
	is := is.New(t)
	store, err := api.Store(ctx)
	is.NoErr(err)
	if store != engine.ContainerdStore {
		t.Skip("the engine uses the classic image store (layers images are docker-save archives there)")
	}
	sfx := fmt.Sprint(time.Now().UnixNano())
	baseRef := "layerstoretest-ocibase-" + sfx + ":1"
	enginetest.ScratchImage(t, api, baseRef, map[string][]byte{"base.txt": []byte("base " + sfx)})
	info, err := api.ImageInspect(ctx, baseRef)
	is.NoErr(err)
	base := bundleimage.Base{Ref: baseRef, ID: info.ID, DiffIDs: info.RootFS.Layers, Created: info.Created, OS: info.Os, Architecture: info.Architecture}
	baseLayers, err := bundleimage.BaseLayers(ctx, api, info.ID, info.Os, info.Architecture)
	is.NoErr(err)
	is.Equal(len(baseLayers), len(base.DiffIDs))

	s, err := layerstore.Open(t.TempDir())
	is.NoErr(err)
	var live []bundleimage.Layer
	for i := range 3 {
		d := fmt.Sprintf("sha256:%064d", i+1)
		is.NoErr(os.WriteFile(s.LayerPath(d, layerstore.Zstd), []byte(fmt.Sprintf("layer %d %s", i, sfx)), 0o644))
		live = append(live, bundleimage.Layer{DiffID: d, Size: 20})
	}
	load := func(plan bundleimage.ChainPlan) (string, []bundleimage.Group) {
		t.Helper()
		var buf bytes.Buffer
		id, groups, err := bundleimage.WriteLayersOCI(&buf, s, base, baseLayers, plan, layerstore.Zstd)
		is.NoErr(err)
		is.NoErr(engine.Load(ctx, api, &buf, nil))
		enginetest.Cleanup(t, api, id)
		got, err := api.ImageInspect(ctx, id)
		is.NoErr(err) // the engine knows the image by the manifest digest
		want := append([]string{}, base.DiffIDs...)
		for _, g := range groups {
			want = append(want, g.DiffID)
		}
		is.Equal(got.RootFS.Layers, want)
		return id, groups
	}
	_, groups := load(bundleimage.ChainPlan{Groups: []bundleimage.Group{{Layers: live[:1]}, {Layers: live[1:2]}}})
	// The next image reuses both groups: only the third is in the archive.
	id, _ := load(bundleimage.ChainPlan{Groups: append(groups, bundleimage.Group{Layers: live[2:]}), Reuse: 2})

	// The bundle is built FROM the layers image, and every file is there.
	built := "layerstoretest-ocibuilt-" + sfx + ":1"
	enginetest.ScratchImage(t, api, built, map[string][]byte{"top.txt": []byte("top")}, enginetest.From(id), enginetest.Cmd("/none"))
	files := enginetest.ImageFiles(t, api, built, "/base.txt", "/images", "/top.txt")
	is.Equal(files["/base.txt"].Content, "base "+sfx)
	is.Equal(files["/top.txt"].Content, "top")
	for i, l := range live {
		is.Equal(files["/images/"+layerstore.LayerFile(l.DiffID, layerstore.Zstd)].Content, fmt.Sprintf("layer %d %s", i, sfx))
	}
}
